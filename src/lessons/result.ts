/**
 * The machine-readable result of `chaos-lab check` — a documented, stable shape (see README "JSON output").
 * Formatters (table, JSON, JUnit, class report) read only these types.
 */

export type CheckStatus = 'pass' | 'fail' | 'blocked' | 'error'

export interface CheckResult {
  id: string
  title: string
  status: CheckStatus
  /** What was found, in one sentence (e.g. "answer 137 is not mystery000's exit code"). */
  message: string
  /** For fail/blocked/error: how to find the answer, never the answer itself. Empty on pass. */
  hint: string
  durationMs: number
}

export interface CheckSummary {
  total: number
  pass: number
  fail: number
  blocked: number
  error: number
}

export interface LessonRun {
  lesson: string
  /** user@host:port or the Vagrant machine's name. */
  target: string
  /** ISO 8601 times. */
  started: string
  finished: string
  summary: CheckSummary
  checks: CheckResult[]
}

export function summarize(checks: readonly CheckResult[]): CheckSummary {
  const summary: CheckSummary = {total: checks.length, pass: 0, fail: 0, blocked: 0, error: 0}
  for (const check of checks) summary[check.status]++
  return summary
}
