import {mkdtempSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {writeAtomically, writeAtomicallySync} from '../../src/util/files.js'
import {findCycle} from '../../src/util/graph.js'

describe('findCycle', () => {
  const graph = (edges: Record<string, string[]>) => findCycle(Object.keys(edges), (node) => edges[node] ?? [])

  it('finds none in a tree or a diamond', () => {
    expect(graph({a: ['b', 'c'], b: ['d'], c: ['d'], d: []})).toBeUndefined()
  })

  it('names the first cycle met, its first node repeated at the end', () => {
    expect(graph({a: ['b'], b: ['c'], c: ['b']})).toEqual(['b', 'c', 'b'])
    expect(graph({a: ['a']})).toEqual(['a', 'a'])
  })

  it('follows edges to nodes not listed, which lead nowhere', () => {
    expect(graph({a: ['ghost']})).toBeUndefined()
  })
})

describe('writeAtomically', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-lab-files-'))
  afterAll(() => { rmSync(dir, {recursive: true, force: true}) })

  it('replaces a file whole and leaves no temporary file behind, async and sync', async () => {
    const file = join(dir, 'report.txt')
    await writeAtomically(file, 'first\n')
    await writeAtomically(file, 'second\n')
    expect(readFileSync(file, 'utf8')).toBe('second\n')
    writeAtomicallySync(file, 'third\n')
    expect(readFileSync(file, 'utf8')).toBe('third\n')
    expect(readdirSync(dir)).toEqual(['report.txt'])
  })
})
