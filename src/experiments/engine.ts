import {randomBytes} from 'node:crypto'
import {hostname, platform, release} from 'node:os'

import {errorMessage} from '../errors.js'
import type {ActivityRun, HypothesisVerdict, Journal, LoadSecond, Mark, RunStatus, SteadyState} from './journal.js'
import {LoadRun} from './load-run.js'
import {httpCommand, loadMeasure, parseHttpOutput, processCommand, stopCommand, withinTolerance, type ExperimentSession} from './providers.js'
import {chaosLabExtensionOf, type Action, type Activity, type Experiment, type Probe} from './schema.js'

/**
 * The one implementation of "run the experiment, judge the hypothesis" (`chaos-lab experiment run` and lesson
 * checks of kind experiment). Chaos Toolkit's order: the load generator starts; the steady-state hypothesis is
 * checked (before, its `load` probes on the warm-up's figures); the method runs, activity after activity, with
 * their pauses; the load stops; the hypothesis is checked again (after, its `load` probes on the generator's own
 * totals of the whole run); the rollbacks run — always: after a deviation, a failed activity, a lost connection
 * and an interruption (Chaos Toolkit's "always" strategy, its issue #195). An action that exits non-zero is a
 * failed activity (the fault was not injected as written), and the method goes on, as in Chaos Toolkit.
 */

export type Phase = 'load' | 'before' | 'method' | 'after' | 'rollbacks'

export type ExperimentEvent =
  | {type: 'phase'; phase: Phase}
  | {type: 'activity'; phase: Phase; run: ActivityRun}
  | {type: 'second'; second: LoadSecond}
  | {type: 'mark'; mark: Mark}
  | {type: 'interrupted'}

export interface RunExperimentOptions {
  /** The experiment's name (its file name without .yaml). */
  name: string
  /** How the journal names the machine. */
  target: string
  /** Aborted on Ctrl-C: the run stops where it is, the rollbacks still run. */
  signal?: AbortSignal
  onEvent?: (event: ExperimentEvent) => void
  now?: () => Date
  /** Waits (the warm-up, pauses); tests pass one that does not. */
  sleep?: (ms: number) => Promise<void>
}

const seconds = (from: Date, to: Date) => Math.round((to.getTime() - from.getTime()) / 10) / 100

class ExperimentRun {
  private readonly now: () => Date
  private readonly emit: (event: ExperimentEvent) => void
  private readonly id = randomBytes(6).toString('hex')
  private readonly marksPattern: RegExp | undefined
  private readonly load: LoadRun | undefined
  private readonly marks: Mark[] = []
  private readonly started: Date
  private error: string | undefined
  private readonly running = new Set<string>()

  constructor(private readonly experiment: Experiment, private readonly session: ExperimentSession, private readonly options: RunExperimentOptions) {
    this.now = options.now ?? (() => new Date())
    this.emit = options.onEvent ?? (() => undefined)
    this.started = this.now()
    const extension = chaosLabExtensionOf(experiment)
    this.marksPattern = extension.marks === undefined ? undefined : new RegExp(extension.marks)
    if (extension.load) {
      this.load = new LoadRun(extension.load, session, `/tmp/chaos-lab-load-${this.id}.stop`, (second) => { this.emit({type: 'second', second}) }, () => this.now().getTime())
    }
    options.signal?.addEventListener('abort', () => { void this.stopRunning() }, {once: true})
  }

  private get interrupted(): boolean {
    return this.options.signal?.aborted ?? false
  }

  async execute(): Promise<Journal> {
    let before: SteadyState | null = null
    let after: SteadyState | null = null
    const run: ActivityRun[] = []
    try {
      if (this.load) {
        this.emit({type: 'phase', phase: 'load'})
        await this.load.start()
        await this.pause(this.load.spec.warmup)
      }
      if (!this.interrupted) before = await this.hypothesis('before')
      if (before?.steady_state_met && !this.interrupted) {
        this.emit({type: 'phase', phase: 'method'})
        for (const activity of this.experiment.method) {
          if (this.interrupted || this.error !== undefined) break
          run.push(await this.activity(activity, 'method'))
        }
        // The load stops first: the hypothesis after judges the whole run by the generator's own totals.
        await this.load?.stop()
        if (!this.interrupted && this.error === undefined) after = await this.hypothesis('after')
      }
    } catch (error) {
      this.error = errorMessage(error)
    }
    await this.load?.stop()
    if (this.load?.problem && !this.interrupted) this.error ??= this.load.problem
    this.emit({type: 'phase', phase: 'rollbacks'})
    const rollbacks: ActivityRun[] = []
    for (const action of this.experiment.rollbacks) rollbacks.push(await this.activity(action, 'rollbacks', {ignoreInterrupt: true}))
    return this.journal(before, after, run, rollbacks)
  }

  private journal(before: SteadyState | null, after: SteadyState | null, run: ActivityRun[], rollbacks: ActivityRun[]): Journal {
    const verdict = (state: SteadyState | null): HypothesisVerdict => (state === null ? 'not-run' : state.steady_state_met ? 'met' : 'deviated')
    const deviated = after !== null && !after.steady_state_met
    const status: RunStatus = this.interrupted ? 'interrupted' : this.error !== undefined ? 'aborted' : before?.steady_state_met === false || deviated ? 'failed' : 'completed'
    const end = this.now()
    const hypothesis = {before: verdict(before), after: verdict(after)}
    return {
      'chaoslib-version': null,
      platform: `${platform()} ${release()}`,
      node: hostname(),
      experiment: this.experiment,
      start: this.started.toISOString(),
      end: end.toISOString(),
      duration: seconds(this.started, end),
      status,
      deviated,
      steady_states: {before, after, during: []},
      run,
      rollbacks,
      'chaos-lab': {
        name: this.options.name,
        target: this.options.target,
        hypothesis,
        summary: summarize(status, hypothesis, run, rollbacks, this.error),
        load: this.load?.record() ?? null,
        marks: this.marks,
        ...(this.error === undefined ? {} : {error: this.error}),
      },
    }
  }

  private async hypothesis(when: 'before' | 'after'): Promise<SteadyState> {
    this.emit({type: 'phase', phase: when})
    const probes: ActivityRun[] = []
    for (const probe of this.experiment['steady-state-hypothesis'].probes) probes.push(await this.activity(probe, when))
    return {steady_state_met: probes.every((p) => p.tolerance_met === true), probes}
  }

  /** One activity with its pauses; never throws for the activity's own failure (it is recorded). */
  private async activity(activity: Activity | Action, phase: Phase, options: {ignoreInterrupt?: boolean} = {}): Promise<ActivityRun> {
    const start = this.now()
    if (activity.type === 'pause') {
      await this.pause(activity.seconds, options.ignoreInterrupt)
      return this.finish({activity, output: null, status: 'succeeded', start: start.toISOString(), end: this.now().toISOString(), duration: seconds(start, this.now())}, phase)
    }
    await this.pause(activity.pauses?.before ?? 0, options.ignoreInterrupt)
    let result: {output: unknown; failed?: string}
    try {
      result = await this.provide(activity)
    } catch (error) {
      // The machine could not be driven (lost connection, a command it could not start): recorded, and the run ends.
      if (phase !== 'rollbacks') this.error ??= errorMessage(error)
      result = {output: null, failed: errorMessage(error)}
    }
    const end = this.now()
    const tolerance = activity.type === 'probe' && activity.tolerance !== undefined && phase !== 'method'
      ? {tolerance_met: result.failed === undefined && withinTolerance(activity.tolerance, result.output)}
      : {}
    const record: ActivityRun = {
      activity, output: result.output, status: result.failed === undefined ? 'succeeded' : 'failed',
      start: start.toISOString(), end: end.toISOString(), duration: seconds(start, end), ...tolerance,
      ...(result.failed === undefined ? {} : {exception: [result.failed]}),
    }
    this.finish(record, phase)
    if (this.error === undefined || phase === 'rollbacks') await this.pause(activity.pauses?.after ?? 0, options.ignoreInterrupt)
    return record
  }

  private finish(run: ActivityRun, phase: Phase): ActivityRun {
    this.emit({type: 'activity', phase, run})
    return run
  }

  /** Runs a probe or action's provider in the machine; `failed` says why an action did not do its work. */
  private async provide(activity: Probe | Action): Promise<{output: unknown; failed?: string}> {
    const {provider} = activity
    if (provider.type === 'load') {
      if (!this.load) throw new Error(`probe "${activity.name}" measures the load, but the experiment has no load generator (extensions: chaos-lab: load)`)
      return {output: loadMeasure(provider.measure, this.load.totals ?? this.load.soFar())}
    }
    if (provider.type === 'http') {
      const result = await this.session.exec(httpCommand(provider), {timeoutMs: (provider.timeout + 30) * 1000})
      const output = parseHttpOutput(result)
      return output.status === 0 ? {output, failed: `no HTTP answer from ${provider.url}${result.stderr.trim() ? ` (${result.stderr.trim().split('\n')[0] ?? ''})` : ''}`} : {output}
    }
    const pidFile = `/tmp/chaos-lab-activity-${this.id}-${randomBytes(4).toString('hex')}.pid`
    this.running.add(pidFile)
    try {
      const result = await this.session.exec(processCommand(provider, pidFile), {
        timeoutMs: ((provider.timeout ?? 300) + 60) * 1000,
        onLine: (line, stream) => { if (stream === 'stdout') this.maybeMark(line, activity) },
      })
      const output = {status: result.code, stdout: result.stdout, stderr: result.stderr}
      if (activity.type === 'action' && result.code !== 0) {
        const said = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-1)[0] ?? ''
        return {output, failed: `${provider.path} ended with ${result.code === null ? `signal ${result.signal ?? '?'}` : `exit code ${result.code}`}${said ? `: ${said}` : ''}`}
      }
      return {output}
    } finally {
      this.running.delete(pidFile)
    }
  }

  private maybeMark(line: string, activity: Probe | Action): void {
    if (activity.type !== 'action' || !this.marksPattern?.test(line)) return
    const at = this.now().getTime()
    const t = this.load ? this.load.elapsed(at) : (at - this.started.getTime()) / 1000
    const mark: Mark = {t: Math.round(t * 10) / 10, label: line.replace(/^\d\d:\d\d:\d\d(\.\d+)?\s+/, '').trim()}
    this.marks.push(mark)
    this.emit({type: 'mark', mark})
  }

  /** Ctrl-C: the activities running in the machine are stopped (their process groups). */
  private async stopRunning(): Promise<void> {
    this.emit({type: 'interrupted'})
    await Promise.all([...this.running].map((pidFile) => this.session.exec(stopCommand(pidFile), {timeoutMs: 30_000}).catch(() => undefined)))
  }

  /** Sleeps; an interruption ends it early (unless ignored: the pauses of rollbacks). */
  private pause(secondsToWait: number, ignoreInterrupt = false): Promise<void> {
    if (secondsToWait <= 0) return Promise.resolve()
    const signal = ignoreInterrupt ? undefined : this.options.signal
    if (signal?.aborted) return Promise.resolve()
    const {sleep} = this.options
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined
      const done = () => { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve() }
      if (sleep) void sleep(secondsToWait * 1000).then(done)
      else timer = setTimeout(done, secondsToWait * 1000)
      signal?.addEventListener('abort', done, {once: true})
    })
  }
}

function summarize(status: RunStatus, hypothesis: {before: HypothesisVerdict; after: HypothesisVerdict}, run: ActivityRun[], rollbacks: ActivityRun[], error: string | undefined): string {
  const failedRollbacks = rollbacks.filter((r) => r.status === 'failed').length
  const rolledBack = rollbacks.length === 0 ? '' : failedRollbacks ? `; ${failedRollbacks} of ${rollbacks.length} rollbacks failed` : `; rollbacks ran (${rollbacks.length})`
  const failedActions = run.filter((r) => r.activity.type === 'action' && r.status === 'failed').length
  const actions = failedActions ? `; ${failedActions} action${failedActions > 1 ? 's' : ''} of the method failed` : ''
  if (status === 'interrupted') return `interrupted${rolledBack}`
  if (error !== undefined) return `the machine could not be driven (${error})${rolledBack}`
  if (hypothesis.before === 'deviated') return `the steady state was not met before the method, so nothing was injected${rolledBack}`
  if (hypothesis.after === 'deviated') return `the hypothesis deviated: the steady state was not met after the method${actions}${rolledBack}`
  return `the hypothesis held${actions}${rolledBack}`
}

/** Runs an experiment against a machine and returns its journal (it throws only for a bug). */
export function runExperiment(experiment: Experiment, session: ExperimentSession, options: RunExperimentOptions): Promise<Journal> {
  return new ExperimentRun(experiment, session, options).execute()
}
