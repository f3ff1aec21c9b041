import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {join} from 'node:path'
import type {z} from 'zod'

import {ConfigError, UsageError} from '../errors.js'
import {closest} from '../util/did-you-mean.js'
import {findCycle as findGraphCycle} from '../util/graph.js'
import {packagePath} from '../util/paths.js'
import {parseYamlWithLines} from '../util/yaml-errors.js'
import {loadLessonExperiment} from '../experiments/files.js'
import {normalizeAs} from './normalize.js'
import {KNOWN_KEYS, lessonSchema, type Check, type Lesson} from './schema.js'

export const LAB_FILE = 'lab.yaml'

/** The labs/ folder shipped with the package (found from this module, so it works from src/ and dist/). */
export function labsRoot(): string {
  return packagePath('labs')
}

export interface LabProblem {
  line: number | undefined
  /** Where in the file, e.g. `checks[3] (mystery000-signal).expect.kind`. */
  where: string
  message: string
}

type Raw = Record<string, unknown>
const isRecord = (value: unknown): value is Raw => typeof value === 'object' && value !== null && !Array.isArray(value)

function rawCheck(raw: unknown, index: unknown): Raw | undefined {
  if (!isRecord(raw) || !Array.isArray(raw.checks) || typeof index !== 'number') return undefined
  const check: unknown = raw.checks[index]
  return isRecord(check) ? check : undefined
}

/** `checks[3] (mystery000-signal).expect.kind`: the path a person can find in the file. */
function describePath(path: readonly PropertyKey[], raw: unknown): string {
  let text = ''
  path.forEach((key, i) => {
    if (typeof key === 'number') {
      text += `[${key}]`
      if (path[i - 1] === 'checks') {
        const id = rawCheck(raw, key)?.id
        if (typeof id === 'string') text += ` (${id})`
      }
    } else {
      text += `${text ? '.' : ''}${String(key)}`
    }
  })
  return text
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let node = raw
  for (const key of path) {
    if (Array.isArray(node) && typeof key === 'number') node = node[key] as unknown
    else if (isRecord(node) && typeof key === 'string') node = node[key]
    else return undefined
  }
  return node
}

/** Which keys are allowed at a path, for "did you mean". */
function knownKeysAt(path: readonly PropertyKey[], raw: unknown): readonly string[] {
  if (path.length === 0) return KNOWN_KEYS.lesson
  const last = path[path.length - 1]
  const beforeLast = path[path.length - 2]
  if (path.length === 2 && path[0] === 'checks') {
    const kind = rawCheck(raw, path[1])?.kind
    return typeof kind === 'string' && kind in KNOWN_KEYS ? KNOWN_KEYS[kind as 'answer'] : []
  }
  if (last === 'expect') return rawCheck(raw, path[1])?.kind === 'answer' ? KNOWN_KEYS.answerExpect : KNOWN_KEYS.expect
  if (last === 'injected') return KNOWN_KEYS.expect
  if (beforeLast === 'differences') return KNOWN_KEYS.difference
  if (last === 'number' || beforeLast === 'numbers') return KNOWN_KEYS.number
  if (last === 'retry') return KNOWN_KEYS.retry
  return []
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): {path: PropertyKey[]; message: string} {
  const path = [...issue.path]
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(path, raw)
    const parts = issue.keys.map((key) => {
      const near = closest(key, known)
      return near ? `"${key}" (did you mean "${near}"?)` : `"${key}"`
    })
    return {
      path: [...path, ...issue.keys.slice(0, 1)],
      message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${parts.join(', ')}${known.length ? `; known keys here: ${known.join(', ')}` : ''}`,
    }
  }
  if (issue.code === 'invalid_type' && valueAt(raw, path) === undefined) {
    return {path, message: `${String(path[path.length - 1] ?? 'value')} is required`}
  }
  return {path, message: issue.message.replace(/^Invalid input: /, '')}
}

/** Checks the whole lesson: ids unique, `needs` name existing checks without cycles, answer checks have a sheet. */
function crossCheck(lesson: Lesson): {path: PropertyKey[]; message: string}[] {
  const problems: {path: PropertyKey[]; message: string}[] = []
  const ids = lesson.checks.map((check) => check.id)
  const seen = new Set<string>()
  lesson.checks.forEach((check, index) => {
    if (seen.has(check.id)) problems.push({path: ['checks', index, 'id'], message: `id "${check.id}" is used by two checks`})
    seen.add(check.id)
    check.needs.forEach((need, j) => {
      if (need === check.id) problems.push({path: ['checks', index, 'needs', j], message: `check "${check.id}" cannot need itself`})
      else if (!ids.includes(need)) {
        const near = closest(need, ids)
        problems.push({path: ['checks', index, 'needs', j], message: `needs "${need}", but no check has that id${near ? ` (did you mean "${near}"?)` : ''}`})
      } else {
        const needed = lesson.checks.find((other) => other.id === need)
        if (needed?.profile !== undefined && needed.profile !== check.profile) {
          problems.push({path: ['checks', index, 'needs', j], message: `needs "${need}", which runs only with profile ${needed.profile}; give this check the same profile or drop the need`})
        }
      }
    })
    if (check.kind === 'answer' && 'value' in check.expect.truth) {
      const truth = check.expect.truth.value
      const values = Array.isArray(truth) ? truth : [truth]
      values.forEach((value, j) => {
        const normalized = normalizeAs(check.expect.kind, value)
        if (!normalized.ok) problems.push({path: ['checks', index, 'expect', 'truth', 'value', ...(Array.isArray(truth) ? [j] : [])], message: `${normalized.problem}, so it cannot be the truth of a ${check.expect.kind} answer`})
      })
    }
    if (check.kind === 'answer' && (check.expect.kind === 'milliseconds') !== (check.expect.within !== undefined)) {
      problems.push(check.expect.within === undefined
        ? {path: ['checks', index, 'expect', 'kind'], message: 'a milliseconds answer needs expect.within (how close to the measured time it must be, e.g. within: {percent: 30, atLeast: 15})'}
        : {path: ['checks', index, 'expect', 'within'], message: `expect.within is for milliseconds answers only, not ${check.expect.kind}`})
    }
    if (check.kind === 'answer' && !lesson.answerSheet) {
      problems.push({path: ['checks', index, 'key'], message: 'an answer check needs the lab\'s answerSheet (e.g. answerSheet: answers/lesson-2.yaml)'})
    }
  })
  const cycle = findCycle(lesson.checks)
  if (cycle) {
    const index = lesson.checks.findIndex((check) => check.id === cycle[0])
    problems.push({path: ['checks', index, 'needs'], message: `needs go round in a circle: ${cycle.join(' → ')}`})
  }
  return problems
}

/** A cycle in `needs` (as ids, first repeated at the end), or undefined. Needs of unknown ids are left out. */
export function findCycle(checks: readonly Pick<Check, 'id' | 'needs'>[]): string[] | undefined {
  const byId = new Map(checks.map((check) => [check.id, check]))
  return findGraphCycle(byId.keys(), (id) => (byId.get(id)?.needs ?? []).filter((need) => byId.has(need)))
}

/**
 * Validates lab.yaml text. Throws one ConfigError listing every problem with its line; `expectedLesson` (the
 * folder name) must match the file's `lesson`.
 */
export function parseLesson(text: string, file: string, expectedLesson?: string): Lesson {
  const fix = `Fix ${file}; the format is described in src/lessons/README.md.`
  const parsed = parseYamlWithLines(text, file, fix)
  const {document} = parsed
  const lineOf = (path: readonly PropertyKey[]) => parsed.lineOf(path)
  const raw: unknown = document.toJS() ?? {}
  const fail = (problems: {path: PropertyKey[]; message: string}[]): never => {
    const located: LabProblem[] = problems
      .map(({path, message}) => ({line: lineOf(path), where: describePath(path, raw), message}))
      // In file order, so a person fixes them top to bottom (the sort is stable for problems on one line).
      .sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER))
    const lines = located.map((p) => `${p.line ? `line ${p.line}: ` : ''}${p.where ? `${p.where}: ` : ''}${p.message}`)
    throw new ConfigError(`${file} is not a valid lab definition:\n  - ${lines.join('\n  - ')}`, {suggestion: fix, data: {file, problems: located}}, 'lab_invalid')
  }
  if (!isRecord(raw)) return fail([{path: [], message: `expected "key: value" lines (lesson, title, description, checks), found ${Array.isArray(raw) ? 'a list' : typeof raw}`}])
  const result = lessonSchema.safeParse(raw)
  if (!result.success) return fail(result.error.issues.map((issue) => describeIssue(issue, raw)))
  const problems = crossCheck(result.data)
  if (expectedLesson !== undefined && result.data.lesson !== expectedLesson) {
    problems.unshift({path: ['lesson'], message: `lesson is "${result.data.lesson}" but the folder is ${expectedLesson}: they must be the same`})
  }
  if (problems.length > 0) fail(problems)
  return result.data
}

/** The lesson ids (folder names holding a lab.yaml), in lesson order (lesson-2 before lesson-10). */
export function listLessonIds(root = labsRoot()): string[] {
  if (!existsSync(root)) return []
  return readdirSync(root, {withFileTypes: true})
    .filter((entry) => entry.isDirectory() && existsSync(join(root, entry.name, LAB_FILE)))
    .map((entry) => entry.name)
    .sort((a, b) => a.localeCompare(b, 'en', {numeric: true}))
}

export function labFile(lesson: string, root = labsRoot()): string {
  return join(root, lesson, LAB_FILE)
}

/** Loads one lesson; an unknown lesson is a usage error (exit 2) with "did you mean". */
export function loadLesson(lesson: string, root = labsRoot()): Lesson {
  const ids = listLessonIds(root)
  if (!ids.includes(lesson)) {
    const near = closest(lesson, ids) ?? (/^\d+$/.test(lesson) && ids.includes(`lesson-${lesson}`) ? `lesson-${lesson}` : undefined)
    throw new UsageError(`There is no lesson "${lesson}".${near ? ` Did you mean "${near}"?` : ''}`, {
      suggestion: `Known lessons: ${ids.join(', ') || 'none'}. Run \`chaos-lab labs\` to list them.`,
      data: {lesson, known: ids},
    }, 'unknown_lesson')
  }
  const file = labFile(lesson, root)
  const parsed = parseLesson(readFileSync(file, 'utf8'), file, lesson)
  // Each experiment a check names must exist and be valid: found now, not in the middle of a run.
  for (const check of parsed.checks) if (check.kind === 'experiment') loadLessonExperiment(lesson, check.experiment, root)
  return parsed
}

/** Every lesson, validated. */
export function loadAllLessons(root = labsRoot()): Lesson[] {
  return listLessonIds(root).map((id) => loadLesson(id, root))
}
