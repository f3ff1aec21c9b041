import type {CheckResult, LessonRun} from '../lessons/result.js'

/**
 * `chaos-lab check --json`: exactly the LessonRun shape of src/lessons/result.ts, with keys in the documented
 * order and nothing else (no internal fields leak into the stable schema).
 */
export function toJsonRun(run: LessonRun): LessonRun {
  const check = (c: CheckResult): CheckResult => ({
    id: c.id,
    title: c.title,
    status: c.status,
    message: c.message,
    hint: c.hint,
    durationMs: c.durationMs,
  })
  const {summary} = run
  return {
    lesson: run.lesson,
    target: run.target,
    started: run.started,
    finished: run.finished,
    summary: {total: summary.total, pass: summary.pass, fail: summary.fail, blocked: summary.blocked, error: summary.error},
    checks: run.checks.map(check),
  }
}
