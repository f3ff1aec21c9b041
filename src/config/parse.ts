import type {z} from 'zod'

import {ConfigError} from '../errors.js'
import {closest} from '../util/did-you-mean.js'
import {parseYamlWithLines} from '../util/yaml-errors.js'
import {KNOWN_KEYS, labConfigSchema, resolveConfig, type LabConfig, type ParsedLabConfig} from './schema.js'

function describeIssue(issue: z.core.$ZodIssue): {message: string; path: PropertyKey[]} {
  const path = [...issue.path]
  if (issue.code === 'unrecognized_keys') {
    const section = path.map(String).join('.')
    const known = KNOWN_KEYS[section] ?? []
    const parts = issue.keys.map((key) => {
      const near = closest(key, known)
      return near ? `"${key}" (did you mean "${near}"?)` : `"${key}"`
    })
    const where = section ? ` in ${section}` : ''
    const [firstKey] = issue.keys
    return {
      message: `unknown key${issue.keys.length > 1 ? 's' : ''}${where}: ${parts.join(', ')}; known keys: ${known.join(', ')}`,
      // zod reports unrecognized_keys with at least one key; point at the first.
      path: firstKey === undefined ? path : [...path, firstKey],
    }
  }
  return {message: issue.message, path}
}

/** Validates chaos-lab.yaml text. Throws one ConfigError listing every problem, each with its line. */
export function parseLabConfig(text: string, file: string): LabConfig {
  return resolveConfig(parseLabFile(text, file))
}

/** Validates chaos-lab.yaml text, before the defaults that depend on other settings (the box) are filled in. */
export function parseLabFile(text: string, file: string): ParsedLabConfig {
  const fix = `Fix ${file} (run \`chaos-lab init --force\` to start again from the book's defaults).`
  const located = parseYamlWithLines(text, file, fix)
  const raw: unknown = located.document.toJS() ?? {}
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${file}: expected settings as "key: value" lines, found ${Array.isArray(raw) ? 'a list' : typeof raw}.`, {suggestion: fix})
  }
  const result = labConfigSchema.safeParse(raw)
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const {message, path} = describeIssue(issue)
      const line = located.lineOf(path)
      return {message, line, key: path.map(String).join('.')}
    })
    const text = problems.map((p) => `${p.line ? `line ${p.line}: ` : ''}${p.message}`).join('; ')
    throw new ConfigError(`${file} is not valid: ${text}.`, {suggestion: fix, data: {file, problems}})
  }
  return result.data
}
