/**
 * The code's layout as rules a newcomer can rely on (README, "How the code is laid out"): imports only go down
 * the layers, commands stay thin.
 */
import {readdirSync, readFileSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src')

/** Lowest first. A module may import from its own layer and the layers below, never from a layer above. */
const LAYERS: readonly (readonly string[])[] = [
  ['util', 'errors.ts'],
  ['config'],
  ['process', 'ui', 'render'],
  ['ssh'],
  ['providers'],
  ['provision', 'lessons', 'reset', 'doctor', 'experiments'],
  ['deps.ts'],
  ['fleet', 'report'],
  ['services'],
  ['cli'],
  ['commands'],
]

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

/** The project-relative modules a file imports (static `from '…'` and dynamic `import('…')`). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((m) => m[1] ?? '')
  return specifiers.map((spec) => relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, '.ts'))
}

function layerOf(path: string): number {
  const top = path.split('/')[0] ?? path
  const index = LAYERS.findIndex((layer) => layer.includes(top))
  if (index < 0) throw new Error(`src/${path} belongs to no layer: add its folder to LAYERS in this test and to the README`)
  return index
}

function upwardImports(edges: readonly (readonly [string, string])[]): string[] {
  return edges.filter(([file, imported]) => layerOf(imported) > layerOf(file)).map(([file, imported]) => `${file} → ${imported}`)
}

describe('the layers of src/', () => {
  const files = sourceFiles().map((file) => relative(SRC, file))

  it('every folder of src/ belongs to a layer', () => {
    for (const file of files) expect(() => layerOf(file)).not.toThrow()
  })

  it('no module imports from a layer above its own', () => {
    const edges = files.flatMap((file) => importsOf(join(SRC, file)).map((imported) => [file, imported] as const))
    expect(edges.length).toBeGreaterThan(100)
    expect(upwardImports(edges)).toEqual([])
  })

  it('reports an upward import (the rule can fail)', () => {
    // The import that once existed: render/vagrantfile.ts → config/schema.ts is fine, config → render is not.
    expect(upwardImports([['config/init-yaml.ts', 'render/vagrantfile.ts'], ['render/vagrantfile.ts', 'config/schema.ts']]))
      .toEqual(['config/init-yaml.ts → render/vagrantfile.ts'])
  })
})

describe('commands', () => {
  const commands = sourceFiles(join(SRC, 'commands'))
  it('are thin: under 60 lines each, over one service', () => {
    const long = commands.map((file) => [relative(SRC, file), readFileSync(file, 'utf8').trimEnd().split('\n').length] as const).filter(([, lines]) => lines >= 60)
    expect(long).toEqual([])
    for (const file of commands) {
      const services = new Set(importsOf(file).filter((path) => path.startsWith('services/') && path !== 'services/machine.ts'))
      expect(services.size, relative(SRC, file)).toBeLessThanOrEqual(1)
    }
  })
})
