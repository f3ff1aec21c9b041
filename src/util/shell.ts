/** Quotes a value for a POSIX shell: the result is always one word, never code. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value
  return `'${value.replaceAll("'", `'\\''`)}'`
}

/** `env A=1 B=2` prefix, values quoted. Names must be plain identifiers. */
export function envAssignments(vars: Record<string, string>): string {
  return Object.entries(vars).map(([name, value]) => {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) throw new RangeError(`not an environment variable name: ${name}`)
    return `${name}=${shellQuote(value)}`
  }).join(' ')
}
