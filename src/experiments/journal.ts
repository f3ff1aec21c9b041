import type {Activity, Experiment, LoadGenerator} from './schema.js'

/**
 * The journal of one run, in Chaos Toolkit's journal shape (experiment, status, deviated, steady_states, run,
 * rollbacks, start, end, duration) plus chaos-lab's own part under "chaos-lab": the load over time, the marks
 * and the verdicts in words. Validated against schemas/experiment-journal.schema.json in the tests.
 */

/** Chaos Toolkit's statuses: completed (the method ran), failed (hypothesis or activity failed), interrupted, aborted. */
export type RunStatus = 'completed' | 'failed' | 'aborted' | 'interrupted'
export type HypothesisVerdict = 'met' | 'deviated' | 'not-run'

export interface ActivityRun {
  activity: Activity
  /** process: {status, stdout, stderr}; http: {status, body}; load: the number measured; pause: null. */
  output: unknown
  status: 'succeeded' | 'failed'
  start: string
  end: string
  duration: number
  tolerance_met?: boolean
  /** Why it failed, when it did (one line per entry, as Chaos Toolkit's traceback list). */
  exception?: string[]
}

export interface SteadyState {
  steady_state_met: boolean
  probes: ActivityRun[]
}

/** One second of load: answers counted in the second they ended, latency of successful ones in ms. */
export interface LoadSecond {
  /** Seconds since the load started (0 = the first second). */
  t: number
  ok: number
  non2xx: number
  failed: number
  p50: number | null
  p95: number | null
  /** What that second's errors were (`HTTP 502`, or the exception's name: ConnectionRefusedError, IncompleteRead, timeout…) and how many; absent when none. */
  why?: Record<string, number>
}

export interface LoadTotals {
  requests: number
  ok: number
  non2xx: number
  failed: number
}

export interface Mark {
  /** Seconds since the load started. */
  t: number
  label: string
}

export interface LoadRecord {
  url: string
  concurrency: number
  /** Who made the requests: chaos-lab's sampler, or the book's ab (then `totals` is ab's own summary). */
  generator: LoadGenerator
  started: string | null
  seconds: LoadSecond[]
  /** The generator's own totals (counted apart from its per-second lines; ab's summary for ab). */
  totals: LoadTotals | null
}

export interface Journal {
  'chaoslib-version': null
  platform: string
  node: string
  experiment: Experiment
  start: string
  end: string
  duration: number
  status: RunStatus
  deviated: boolean
  steady_states: {before: SteadyState | null; after: SteadyState | null; during: SteadyState[]}
  run: ActivityRun[]
  rollbacks: ActivityRun[]
  'chaos-lab': {
    name: string
    target: string
    hypothesis: {before: HypothesisVerdict; after: HypothesisVerdict}
    /** What happened, one sentence: the verdict a person reads. */
    summary: string
    load: LoadRecord | null
    marks: Mark[]
    /** Set when the machine could not be driven (connection lost, a command it could not run). */
    error?: string
  }
}

/** 0 held, 1 deviated (or not in its steady state before the method), 3 the machine could not be driven, 130 interrupted. */
export function exitCodeForJournal(journal: Journal): 0 | 1 | 3 | 130 {
  if (journal.status === 'interrupted') return 130
  if (journal['chaos-lab'].error !== undefined || journal.status === 'aborted') return 3
  if (journal.rollbacks.some((r) => r.status === 'failed')) return 3
  if (journal.deviated || journal['chaos-lab'].hypothesis.before !== 'met') return 1
  if (journal.run.some((r) => r.activity.type === 'action' && r.status === 'failed')) return 3
  return 0
}
