import {errorMessage} from '../errors.js'
import type {LoadRecord, LoadSecond, LoadTotals} from './journal.js'
import {loadCommand, parseSamplerLine, sumSeconds} from './load.js'
import type {ExperimentSession} from './providers.js'
import type {LoadSpec} from './schema.js'
import {shellQuote} from '../util/shell.js'

/** How long the generator may take to print its first line (python's start under emulation is slow). */
const START_TIMEOUT_MS = 60_000
/** How long the generator may take to finish once told to stop (its clients' last requests: 30 s each at most). */
const STOP_TIMEOUT_MS = 45_000

/** The load generator of one run, in the machine, over the run's SSH session. */
export class LoadRun {
  readonly seconds: LoadSecond[] = []
  totals: LoadTotals | null = null
  /** Host time (ms) when the generator said it started: t = 0 of the chart. */
  startedAt: number | undefined
  startedIso: string | null = null
  /** Why the generator stopped working, if it did. */
  problem: string | undefined
  private finished: Promise<void> | undefined

  constructor(
    readonly spec: LoadSpec,
    private readonly session: ExperimentSession,
    private readonly stopFile: string,
    private readonly onSecond: (second: LoadSecond) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts it and waits for its first line; throws when it does not start. */
  async start(): Promise<void> {
    let started: () => void = () => undefined
    const hasStarted = new Promise<void>((resolve) => { started = resolve })
    const running = this.session.exec(`rm -f ${shellQuote(this.stopFile)}; ${loadCommand(this.spec, this.stopFile)}`, {
      onLine: (line, stream) => {
        if (stream !== 'stdout') return
        const parsed = parseSamplerLine(line)
        if (parsed.kind === 'start') {
          this.startedAt = this.now()
          this.startedIso = new Date(parsed.epoch * 1000).toISOString()
          started()
        } else if (parsed.kind === 'second') {
          this.seconds.push(parsed.second)
          this.onSecond(parsed.second)
        } else if (parsed.kind === 'total') {
          this.totals = parsed.totals
        }
      },
    })
    this.finished = running.then((result) => {
      if (this.totals === null) this.problem ??= `the load generator ended without its totals (exit ${result.code ?? `signal ${result.signal ?? '?'}`}${result.stderr.trim() ? `: ${result.stderr.trim().split('\n').slice(-1)[0] ?? ''}` : ''})`
    }, (error: unknown) => { this.problem ??= `the load generator stopped: ${errorMessage(error)}` })
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => { resolve('timeout') }, START_TIMEOUT_MS) })
    const outcome = await Promise.race([hasStarted.then(() => 'started' as const), this.finished.then(() => 'ended' as const), timedOut])
    clearTimeout(timer)
    if (outcome !== 'started') {
      await this.stop()
      throw new Error(this.problem ?? `the load generator did not start within ${START_TIMEOUT_MS / 1000} s`)
    }
  }

  /** The counts so far (what a `load` probe measures). */
  soFar(): LoadTotals {
    return sumSeconds(this.seconds)
  }

  /** Tells it to stop and waits for its totals (bounded). Safe to call twice. */
  async stop(): Promise<void> {
    if (!this.finished) return
    try {
      await this.session.exec(`touch ${shellQuote(this.stopFile)}`, {timeoutMs: 30_000})
    } catch (error) {
      this.problem ??= `could not stop the load generator: ${errorMessage(error)}`
    }
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.finished, new Promise<void>((resolve) => { timer = setTimeout(resolve, STOP_TIMEOUT_MS) })])
    clearTimeout(timer)
  }

  /** Seconds since it started (0 before it has). */
  elapsed(at = this.now()): number {
    return this.startedAt === undefined ? 0 : Math.max(0, (at - this.startedAt) / 1000)
  }

  record(): LoadRecord {
    return {url: this.spec.url, concurrency: this.spec.concurrency, generator: this.spec.generator, started: this.startedIso, seconds: this.seconds, totals: this.totals}
  }
}
