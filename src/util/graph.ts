/**
 * A cycle in a directed graph, as node names with the first repeated at the end (a → b → a), or undefined.
 * `edges(node)` lists the nodes `node` points to; nodes are tried in the order given, so the cycle reported is the
 * first one met.
 */
export function findCycle(nodes: Iterable<string>, edges: (node: string) => Iterable<string>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>()
  const stack: string[] = []
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined
    if (state.get(node) === 'visiting') return [...stack.slice(stack.indexOf(node)), node]
    state.set(node, 'visiting')
    stack.push(node)
    for (const next of edges(node)) {
      const found = visit(next)
      if (found) return found
    }
    stack.pop()
    state.set(node, 'done')
    return undefined
  }
  for (const node of nodes) {
    const found = visit(node)
    if (found) return found
  }
  return undefined
}
