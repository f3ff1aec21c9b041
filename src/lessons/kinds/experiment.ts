import {runExperiment} from '../../experiments/engine.js'
import {loadLessonExperiment} from '../../experiments/files.js'
import type {ActivityRun, Journal} from '../../experiments/journal.js'
import {whySummary} from '../../experiments/load.js'
import type {ExperimentCheck} from '../schema.js'
import type {CheckRunner, Verdict} from './types.js'

/** The engine is told to stop this long before the check's time limit, so that its rollbacks still fit in it. */
export const ROLLBACK_MARGIN_SEC = 60

const nameOf = (run: ActivityRun) => (run.activity.type === 'pause' ? 'pause' : run.activity.name)
const why = (run: ActivityRun) => run.exception?.join(' ') ?? (typeof run.output === 'number' ? String(run.output) : typeof run.output === 'object' && run.output !== null && 'status' in run.output ? `status ${String((run.output).status)}` : 'outside tolerance')

/** The verdict of a lesson check from the journal of its experiment (also used by tests with made-up journals). */
export function verdictOf(journal: Journal, check: Pick<ExperimentCheck, 'injected' | 'failMessage'>): Verdict {
  const lab = journal['chaos-lab']
  const totals = lab.load?.totals
  const figures = totals ? `${totals.requests} requests: failed requests: ${totals.failed}, non-2xx responses: ${totals.non2xx}` : 'no load figures'
  const failedRollbacks = journal.rollbacks.filter((r) => r.status === 'failed')
  if (failedRollbacks.length > 0) {
    return {status: 'error', message: `putting the VM back failed (${failedRollbacks.map((r) => `${nameOf(r)}: ${why(r)}`).join('; ')})`, hint: 'Start the FizzBuzz units again with `sudo systemctl reset-failed` and `sudo systemctl start`, then run the check again.'}
  }
  if (journal.status === 'interrupted') return {status: 'error', message: `the experiment did not finish in time and was stopped (${lab.summary})`}
  if (lab.error !== undefined) return {status: 'error', message: `the experiment could not be driven: ${lab.error}`}
  if (lab.hypothesis.before !== 'met') {
    const off = (journal.steady_states.before?.probes ?? []).filter((p) => p.tolerance_met !== true)
    return {status: 'error', message: `the steady state was not met before the experiment, so nothing was injected (${off.map((p) => `${nameOf(p)}: ${why(p)}`).join('; ')})`}
  }
  if (journal.deviated) {
    const off = (journal.steady_states.after?.probes ?? []).filter((p) => p.tolerance_met !== true)
    const detail = [...(totals && totals.failed > 0 ? [`failed requests: ${totals.failed} (expected at most 0)`] : []), ...(totals && totals.non2xx > 0 ? [`non-2xx responses: ${totals.non2xx} (expected at most 0)`] : []),
      ...off.map((p) => `${nameOf(p)}: ${why(p)}`)].join('; ')
    const what = whySummary(lab.load?.seconds ?? [])
    return {status: 'fail', message: `${check.failMessage ?? 'the hypothesis deviated'} (${detail}${what ? `; the errors: ${what}` : ''})`}
  }
  const marks = lab.marks.length
  const failedActions = journal.run.filter((r) => r.activity.type === 'action' && r.status === 'failed')
  if (marks < check.injected.marks || failedActions.length > 0) {
    const problems = [...(marks < check.injected.marks ? [`${marks} of ${check.injected.marks} kills marked`] : []), ...failedActions.map((r) => `${nameOf(r)}: ${why(r)}`)]
    return {status: 'error', message: `the experiment's fault was not injected, so it says nothing (${problems.join('; ')})`}
  }
  return {status: 'pass', message: `the hypothesis held: ${figures}; ${marks} kills marked; rollbacks ran`}
}

/** Runs the lesson's experiment with the engine, alone on the run's session, and judges its journal. */
export const runExperimentCheck: CheckRunner<ExperimentCheck> = async (check, ctx) => {
  const experiment = loadLessonExperiment(ctx.lesson.lesson, check.experiment)
  const controller = new AbortController()
  const timer = setTimeout(() => { controller.abort() }, Math.max(10, check.timeoutSec - ROLLBACK_MARGIN_SEC) * 1000)
  try {
    const journal = await runExperiment(experiment, ctx.session, {name: check.experiment, target: 'check', signal: controller.signal, sleep: ctx.sleep})
    return verdictOf(journal, check)
  } finally {
    clearTimeout(timer)
  }
}
