import {LineCounter, parseDocument, isMap, isSeq, type Document, type Node} from 'yaml'

import {ConfigError} from '../errors.js'

export interface LocatedDocument {
  document: Document.Parsed
  lineOf(path: readonly PropertyKey[]): number | undefined
}

/**
 * Parses YAML text and keeps line numbers, so that a schema error can say where it is. A syntax error
 * becomes a ConfigError naming the file and line.
 */
export function parseYamlWithLines(text: string, file: string, fix: string): LocatedDocument {
  const lineCounter = new LineCounter()
  const document = parseDocument(text, {lineCounter, prettyErrors: false, uniqueKeys: true})
  const first = document.errors[0]
  if (first) {
    const line = lineCounter.linePos(first.pos[0]).line
    const what = first.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'invalid YAML'
    throw new ConfigError(`${file} line ${line}: this is not valid YAML (${what}).`, {suggestion: fix, data: {file, line}}, 'yaml_syntax')
  }
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    // Walk down as far as the path exists; report the deepest node we found.
    let node: unknown = document.contents
    let found: Node | undefined = node as Node | undefined
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((item) => (item.key as {value?: unknown} | null)?.value === key)
        if (!pair) break
        found = (pair.key as Node | null) ?? found
        node = pair.value
      } else if (isSeq(node) && typeof key === 'number') {
        node = node.items[key]
        found = (node as Node | undefined) ?? found
      } else break
    }
    const offset = found?.range?.[0]
    return offset === undefined ? undefined : lineCounter.linePos(offset).line
  }
  return {document, lineOf}
}
