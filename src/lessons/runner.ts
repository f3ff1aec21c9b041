import {ChaosLabError, InternalError, errorMessage} from '../errors.js'
import {CommandBatcher} from '../ssh/batch.js'
import type {ExecResult, SshSession} from '../ssh/session.js'
import {Limiter} from '../util/limiter.js'
import {interpretSheetRead, readSheetCommand, sheetShownAs, type AnswerSheet} from './answers.js'
import {runAnswer} from './kinds/answer.js'
import {runBehaviour} from './kinds/behaviour.js'
import {runExperimentCheck} from './kinds/experiment.js'
import {runProbe} from './kinds/probe.js'
import {runState} from './kinds/state.js'
import {describeEnd, firstLine, type CheckContext, type Params, type Verdict} from './kinds/types.js'
import {findCycle} from './load.js'
import {summarize, type CheckResult, type LessonRun} from './result.js'
import type {Check, Lesson} from './schema.js'

/**
 * Checks in flight at once on the one SSH connection to a machine (not hosts at once: that is --concurrency of a
 * class run, src/fleet/run.ts). Their commands share SSH channels (src/ssh/batch.ts: commands started together run
 * as one script on one channel), and the session itself keeps channels below OpenSSH's MaxSessions.
 */
export const DEFAULT_CHECKS_IN_FLIGHT = 16

/** The book's VM (chapter 2 "Setup"): what lesson-1 expects when nothing else says otherwise. */
export const BOOK_DEFAULT_PARAMS: Params = {
  values: {memoryMb: 4096, cpus: 2},
  source: 'the book\'s default (pass --memory and --cpus, or check from the lab folder, if your VM was made with other sizes)',
}

export interface RunLessonOptions {
  /** How the report names the machine: user@host:port or the Vagrant machine's name. */
  target: string
  params?: Params
  /** Checks in flight at once (default 16). */
  concurrency?: number
  /** Time limit for a behaviour check's teardown (default: the check's own timeout, at least 60 s). */
  teardownTimeoutSec?: number
  now?: () => Date
  sleep?: (ms: number) => Promise<void>
  random?: () => number
  /** Called when a check starts its first attempt (progress lines for long experiments). */
  onCheckStart?: (check: Check) => void
  /**
   * The profile the VM was provisioned with when the VM itself does not say (its marker, PROFILE_MARKER, is
   * missing): from the lab folder's chaos-lab.yaml. Checks of another profile are left out of the run.
   */
  profile?: string | undefined
  onCheckDone?: (result: CheckResult) => void
}

export interface LessonOutcome {
  run: LessonRun
  /** The SSH connection dropped during the run: some checks could not run (the command exits 3). */
  connectionLost: boolean
}

class CheckTimeoutError extends Error {
  constructor(readonly seconds: number) {
    super(`did not finish within ${seconds} s`)
  }
}

interface AttemptVerdict extends Verdict {
  connectionLost?: boolean
}

const RUNNERS: {[K in Check['kind']]: (check: Extract<Check, {kind: K}>, ctx: CheckContext) => Promise<Verdict>} = {
  answer: runAnswer,
  state: runState,
  behaviour: runBehaviour,
  probe: runProbe,
  experiment: runExperimentCheck,
}

function runKind(check: Check, ctx: CheckContext): Promise<Verdict> {
  return (RUNNERS[check.kind] as (check: Check, ctx: CheckContext) => Promise<Verdict>)(check, ctx)
}

function isTimeout(error: unknown): boolean {
  return error instanceof CheckTimeoutError || (error instanceof ChaosLabError && error.code === 'command_timeout')
}

function verdictFromError(error: unknown, check: Check): AttemptVerdict {
  if (isTimeout(error)) {
    return {
      status: 'error',
      message: `did not finish within ${check.timeoutSec} s`,
      hint: 'The VM may be overloaded or stuck: look at it with `chaos-lab ssh` (e.g. `top`), then run the check again.',
    }
  }
  if (error instanceof ChaosLabError) {
    const connectionLost = error.code === 'connection_lost'
    return {status: 'error', message: error.message, hint: error.suggestion ?? check.hint, connectionLost}
  }
  const bug = new InternalError(errorMessage(error))
  return {status: 'error', message: `chaos-lab hit a bug in this check: ${bug.message}`, hint: 'Please report it with the command you ran.'}
}

function withTimeout<T>(promise: Promise<T>, seconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { reject(new CheckTimeoutError(seconds)) }, seconds * 1000)
  })
  return Promise.race([promise, expired]).finally(() => { clearTimeout(timer) })
}

/** A promise per key, made once and shared; a failure is not remembered, so a retry (or another check) asks again. */
class OncePerRun {
  private readonly made = new Map<string, Promise<unknown>>()

  get<T>(key: string, make: () => Promise<T>): Promise<T> {
    const existing = this.made.get(key) as Promise<T> | undefined
    if (existing) return existing
    const made = make()
    this.made.set(key, made)
    made.catch(() => { this.made.delete(key) })
    return made
  }
}

function blockedResult(check: Check, blockers: CheckResult[]): CheckResult {
  return {
    id: check.id,
    title: check.title,
    status: 'blocked',
    message: `blocked by ${blockers.map((b) => b.id).join(', ')}`,
    hint: `First make ${blockers.map((b) => `"${b.title}"`).join(' and ')} pass; this check runs after ${blockers.length > 1 ? 'them' : 'it'}.`,
    durationMs: 0,
  }
}

/** One run of a lesson's checks over one session: the state the checks share (slots, batcher, memo, lost connection). */
class CheckRun {
  connectionLost = false
  private readonly params: Params
  private readonly sleep: (ms: number) => Promise<void>
  private readonly random: () => number
  private readonly slots: Limiter
  private readonly batcher: CommandBatcher
  // Shared by every check of the run: the answer sheet is read once, each truth command run once.
  private readonly once = new OncePerRun()
  private readonly byId: Map<string, Check>
  private readonly results = new Map<string, Promise<CheckResult>>()

  constructor(private readonly lesson: Lesson, private readonly session: SshSession, private readonly options: RunLessonOptions) {
    this.sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
    this.random = options.random ?? Math.random
    this.params = options.params ?? BOOK_DEFAULT_PARAMS
    this.slots = new Limiter(options.concurrency ?? DEFAULT_CHECKS_IN_FLIGHT)
    this.batcher = new CommandBatcher(session)
    this.byId = new Map(lesson.checks.map((check) => [check.id, check]))
  }

  /** A check's result, run once its `needs` have theirs (blocked if one did not pass). */
  resultOf(id: string): Promise<CheckResult> {
    let result = this.results.get(id)
    if (!result) {
      const check = this.byId.get(id)
      if (!check) throw new InternalError(`lesson ${this.lesson.lesson}: no check "${id}"`)
      result = this.afterNeeds(check)
      this.results.set(id, result)
    }
    return result
  }

  private async afterNeeds(check: Check): Promise<CheckResult> {
    const prerequisites = await Promise.all(check.needs.map((id) => this.resultOf(id)))
    const blockers = prerequisites.filter((p) => p.status !== 'pass')
    const result = blockers.length === 0 ? await this.execute(check) : blockedResult(check, blockers)
    this.options.onCheckDone?.(result)
    return result
  }

  /** Every attempt of a check, each in a slot (a behaviour check alone), with the retry delay between them. */
  private async execute(check: Check): Promise<CheckResult> {
    const attempts = check.retry?.attempts ?? 1
    const delayMs = (check.retry?.delaySec ?? 0) * 1000
    const alone = check.kind === 'behaviour' || check.kind === 'experiment'
    let startedAt: number | undefined
    let verdict: AttemptVerdict = {status: 'error', message: 'not run'}
    let tries = 0
    for (let i = 1; i <= attempts; i++) {
      tries = i
      const job = (): Promise<AttemptVerdict> => {
        if (startedAt === undefined) {
          startedAt = Date.now()
          this.options.onCheckStart?.(check)
        }
        return this.attempt(check)
      }
      verdict = await (alone ? this.slots.runAlone(job) : this.slots.run(job))
      if (verdict.connectionLost) this.connectionLost = true
      if (verdict.status === 'pass' || verdict.connectionLost || i === attempts) break
      await this.sleep(delayMs)
    }
    const message = tries > 1 && verdict.status !== 'pass' ? `${verdict.message} (after ${tries} tries)` : verdict.message
    return {
      id: check.id,
      title: check.title,
      status: verdict.status,
      message,
      hint: verdict.status === 'pass' ? '' : verdict.hint ?? check.hint,
      durationMs: startedAt === undefined ? 0 : Date.now() - startedAt,
    }
  }

  private async attempt(check: Check): Promise<AttemptVerdict> {
    let verdict: AttemptVerdict
    try {
      verdict = await withTimeout(runKind(check, this.contextFor(check.timeoutSec)), check.timeoutSec)
    } catch (error) {
      verdict = verdictFromError(error, check)
    }
    const teardownProblem = await this.teardown(check)
    if (teardownProblem) {
      verdict = verdict.status === 'pass'
        ? {status: 'error', message: `the experiment passed, but ${teardownProblem}`, hint: 'Start the FizzBuzz units again with `sudo systemctl reset-failed` and `sudo systemctl start`, then run the check again.'}
        : {...verdict, message: `${verdict.message}; then ${teardownProblem}`}
    }
    return verdict
  }

  private contextFor(timeoutSec: number): CheckContext {
    const deadline = Date.now() + timeoutSec * 1000
    const exec = (command: string): Promise<ExecResult> => {
      const remaining = deadline - Date.now()
      if (remaining <= 0) return Promise.reject(new CheckTimeoutError(timeoutSec))
      return this.batcher.exec(command, {timeoutMs: remaining})
    }
    const {lesson} = this
    return {
      lesson,
      params: this.params,
      exec,
      session: this.session,
      sleep: this.sleep,
      random: this.random,
      truth: (command) => this.once.get(`truth:${command}`, () => exec(command)),
      answers: () => this.once.get<AnswerSheet>('answers', async () => {
        const path = lesson.answerSheet ?? ''
        return interpretSheetRead(await exec(readSheetCommand(lesson.learner, path)), sheetShownAs(path))
      }),
    }
  }

  /** Puts the VM back after a behaviour experiment; says what went wrong, or undefined. */
  private async teardown(check: Check): Promise<string | undefined> {
    if (check.kind !== 'behaviour' || !check.teardown) return undefined
    const seconds = this.options.teardownTimeoutSec ?? Math.max(60, check.timeoutSec)
    try {
      const result = await withTimeout(this.session.exec(check.teardown, {timeoutMs: seconds * 1000}), seconds)
      if (result.code === 0) return undefined
      const said = firstLine(result.stderr) || firstLine(result.stdout)
      return `putting the VM back failed (${describeEnd(result)}${said ? `: ${said}` : ''})`
    } catch (error) {
      if (error instanceof ChaosLabError && error.code === 'connection_lost') this.connectionLost = true
      return `putting the VM back failed (${isTimeout(error) ? `not done within ${seconds} s` : errorMessage(error)})`
    }
  }
}

/** Written by provisioning's desktop step in every profile: the profile the VM was provisioned with. */
export const PROFILE_MARKER = '/var/lib/chaos-lab/profile'

/**
 * The checks that apply to this VM: a check with a `profile` runs only when the VM's profile (its marker, else
 * `fallback`) is that one; when neither is known it runs (and says what is missing).
 */
async function applicableChecks(lesson: Lesson, session: SshSession, fallback: string | undefined): Promise<Lesson> {
  if (!lesson.checks.some((check) => check.profile !== undefined)) return lesson
  const read = await session.exec(`cat ${PROFILE_MARKER} 2>/dev/null || true`)
  const marked = read.stdout.trim()
  const profile = /^[a-z]+$/.test(marked) ? marked : fallback
  if (!profile) return lesson
  return {...lesson, checks: lesson.checks.filter((check) => check.profile === undefined || check.profile === profile)}
}

/**
 * Runs a lesson's checks over one SSH session. Independent checks run side by side (at most `concurrency`
 * channels); `needs` are honoured (a check whose prerequisite did not pass is `blocked`, not run); behaviour
 * checks run alone; each attempt has the check's time limit; a check that could not reach a verdict is `error`,
 * never `pass`. Results come back in the order of lab.yaml, whatever order they finished in.
 */
export async function runLesson(allChecks: Lesson, session: SshSession, options: RunLessonOptions): Promise<LessonOutcome> {
  const lesson = await applicableChecks(allChecks, session, options.profile)
  const cycle = findCycle(lesson.checks)
  if (cycle) throw new InternalError(`lesson ${lesson.lesson}: needs go round in a circle (${cycle.join(' → ')})`)
  const now = options.now ?? (() => new Date())
  const run = new CheckRun(lesson, session, options)
  const started = now()
  const checks = await Promise.all(lesson.checks.map((check) => run.resultOf(check.id)))
  return {
    run: {
      lesson: lesson.lesson,
      target: options.target,
      started: started.toISOString(),
      finished: now().toISOString(),
      summary: summarize(checks),
      checks,
    },
    connectionLost: run.connectionLost,
  }
}

/** The exit code of `chaos-lab check`: 0 all passed; 3 the connection dropped; otherwise 1. Never 0 with an error. */
export function exitCodeFor(outcome: LessonOutcome): 0 | 1 | 3 {
  if (outcome.connectionLost) return 3
  const {summary} = outcome.run
  return summary.pass === summary.total && summary.error === 0 ? 0 : 1
}
