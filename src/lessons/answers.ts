import {ChaosLabError} from '../errors.js'
import type {ExecResult} from '../ssh/session.js'
import {shellQuote} from '../util/shell.js'
import {parseYamlWithLines} from '../util/yaml-errors.js'
import {CheckCannotRunError} from './cannot-run.js'

/**
 * The learner's answer sheet (e.g. ~chaos/answers/lesson-2.yaml): written by provisioning with each question as
 * a comment above its key and the values empty; the learner fills the values in inside the VM. A sheet that is
 * not valid YAML is the learner's to fix, so it becomes a failing answer with the line, never a crash.
 */
export type AnswerSheet =
  | {state: 'ok'; values: Readonly<Record<string, unknown>>}
  | {state: 'missing'}
  | {state: 'invalid'; line: number | undefined; problem: string}

/** How the learner sees the sheet's path inside the VM: answers/lesson-2.yaml → ~/answers/lesson-2.yaml. */
export function sheetShownAs(relativePath: string): string {
  return `~/${relativePath}`
}

/** Reads the sheet as root, so it works whether the SSH user is the learner or another sudo user. */
export function readSheetCommand(learner: string, relativePath: string): string {
  return `sudo -n cat -- ~${learner}/${shellQuote(relativePath)}`
}

export function parseAnswerSheet(text: string, shownAs: string): AnswerSheet {
  let parsed: ReturnType<typeof parseYamlWithLines>
  try {
    parsed = parseYamlWithLines(text, shownAs, '')
  } catch (error) {
    if (error instanceof ChaosLabError) {
      const line = typeof error.data?.line === 'number' ? error.data.line : undefined
      const problem = /\(([^)]*)\)\.?$/.exec(error.message)?.[1] ?? 'invalid YAML'
      return {state: 'invalid', line, problem}
    }
    throw error
  }
  const values: unknown = parsed.document.toJS()
  if (values === null || values === undefined) return {state: 'ok', values: {}}
  if (typeof values !== 'object' || Array.isArray(values)) {
    return {state: 'invalid', line: 1, problem: `expected one "key: value" line per answer, found ${Array.isArray(values) ? 'a list' : 'a single value'}`}
  }
  return {state: 'ok', values: values as Record<string, unknown>}
}

/** Interprets `sudo -n cat SHEET`: the sheet, "missing", or an error when the VM would not let us read it. */
export function interpretSheetRead(result: ExecResult, shownAs: string): AnswerSheet {
  if (result.code === 0) return parseAnswerSheet(result.stdout, shownAs)
  if (/No such file or directory/i.test(result.stderr)) return {state: 'missing'}
  const why = result.stderr.trim().split('\n')[0] || `exit code ${String(result.code ?? result.signal)}`
  throw new CheckCannotRunError(`Could not read the answer sheet ${shownAs} as root: ${why}.`,
    'chaos-lab reads it with `sudo -n`: the SSH user needs passwordless sudo (the learner user chaos has it).')
}
