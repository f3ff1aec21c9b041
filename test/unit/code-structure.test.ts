import {readFileSync, readdirSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import ts from 'typescript'
import {describe, expect, it} from 'vitest'

import {findCycle} from '../../src/util/graph.js'

/**
 * Rules of the code's shape, read from src/ with the TypeScript parser: no function longer than a screen, no
 * import cycle (type-only imports count: a cycle of types is still two modules that cannot be read apart).
 */

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src')
const MAX_FUNCTION_LINES = 80

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : []
  })
}

const files = sourceFiles(SRC).map((path) => ({
  path,
  name: relative(SRC, path),
  source: ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true),
}))

function functionName(node: ts.Node): string {
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isFunctionExpression(node)) && node.name) return node.name.getText()
  if (ts.isConstructorDeclaration(node)) return 'constructor'
  if (ts.isGetAccessor(node) || ts.isSetAccessor(node)) return node.name.getText()
  const parent = node.parent
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText()
  return '(anonymous)'
}

/** Every function, method, constructor, accessor and arrow function with its length in lines. */
function functionLengths(source: ts.SourceFile): {name: string; line: number; lines: number}[] {
  const found: {name: string; line: number; lines: number}[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line
      found.push({name: functionName(node), line: start + 1, lines: end - start + 1})
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

/** The src/ files a file imports (static imports and re-exports, type-only ones included). */
function importsOf(file: {path: string; source: ts.SourceFile}): string[] {
  const targets: string[] = []
  for (const statement of file.source.statements) {
    const specifier = (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) ? statement.moduleSpecifier : undefined
    if (!specifier || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) continue
    targets.push(relative(SRC, resolve(dirname(file.path), specifier.text.replace(/\.js$/, '.ts'))))
  }
  return targets
}

describe('the shape of src/', () => {
  it('reads every source file', () => {
    expect(files.length).toBeGreaterThan(50)
    expect(files.map((file) => file.name)).toContain(join('util', 'graph.ts'))
  })

  it(`has no function over ${MAX_FUNCTION_LINES} lines`, () => {
    const long = files.flatMap((file) => functionLengths(file.source)
      .filter((fn) => fn.lines > MAX_FUNCTION_LINES)
      .map((fn) => `${file.name}:${fn.line} ${fn.name} (${fn.lines} lines)`))
    expect(long).toEqual([])
  })

  it('has no import cycle', () => {
    const graph = new Map(files.map((file) => [file.name, importsOf(file)]))
    expect(findCycle(graph.keys(), (name) => graph.get(name) ?? [])).toBeUndefined()
  })

  it('measures what it checks: a 81-line function and a two-file cycle are seen', () => {
    const body = Array.from({length: 79}, (_, i) => `  const v${i} = ${i}`).join('\n')
    const source = ts.createSourceFile('long.ts', `function long() {\n${body}\n}\nconst short = () => 1\n`, ts.ScriptTarget.Latest, true)
    expect(functionLengths(source)).toEqual([{name: 'long', line: 1, lines: 81}, {name: 'short', line: 82, lines: 1}])
    expect(findCycle(['a.ts', 'b.ts'], (name) => (name === 'a.ts' ? ['b.ts'] : ['a.ts']))).toEqual(['a.ts', 'b.ts', 'a.ts'])
  })
})
