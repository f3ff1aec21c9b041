import {ChaosLabError, InternalError, errorMessage} from '../errors.js'
import {CommandBatcher} from '../ssh/batch.js'
import type {ExecResult, SshSession} from '../ssh/session.js'
import {interpretSheetRead, readSheetCommand, sheetShownAs, type AnswerSheet} from './answers.js'
import {runAnswer} from './kinds/answer.js'
import {runBehaviour} from './kinds/behaviour.js'
import {runProbe} from './kinds/probe.js'
import {runState} from './kinds/state.js'
import {describeEnd, firstLine, type CheckContext, type Params, type Verdict} from './kinds/types.js'
import {findCycle} from './load.js'
import {summarize, type CheckResult, type LessonRun} from './result.js'
import {CheckSlots} from './scheduler.js'
import type {Check, Lab} from './schema.js'

/**
 * Checks in flight at once. Their commands share SSH channels (src/ssh/batch.ts: commands started together run
 * as one script on one channel), and the session itself keeps channels below OpenSSH's MaxSessions.
 */
export const DEFAULT_CONCURRENCY = 16

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

/**
 * Runs a lesson's checks over one SSH session. Independent checks run side by side (at most `concurrency`
 * channels); `needs` are honoured (a check whose prerequisite did not pass is `blocked`, not run); behaviour
 * checks run alone; each attempt has the check's time limit; a check that could not reach a verdict is `error`,
 * never `pass`. Results come back in the order of lab.yaml, whatever order they finished in.
 */
export async function runLesson(lab: Lab, session: SshSession, options: RunLessonOptions): Promise<LessonOutcome> {
  const cycle = findCycle(lab.checks)
  if (cycle) throw new InternalError(`lab ${lab.lesson}: needs go round in a circle (${cycle.join(' → ')})`)
  const now = options.now ?? (() => new Date())
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  const random = options.random ?? Math.random
  const params = options.params ?? BOOK_DEFAULT_PARAMS
  const slots = new CheckSlots(options.concurrency ?? DEFAULT_CONCURRENCY)
  const batcher = new CommandBatcher(session)
  const started = now()
  let connectionLost = false

  // Shared by every check of the run: the answer sheet is read once, each truth command run once.
  const memo = new Map<string, Promise<unknown>>()
  const once = <T>(key: string, make: () => Promise<T>): Promise<T> => {
    const existing = memo.get(key) as Promise<T> | undefined
    if (existing) return existing
    const made = make()
    memo.set(key, made)
    // A failure is not remembered: a retry (or another check) asks again.
    made.catch(() => { memo.delete(key) })
    return made
  }

  const contextFor = (timeoutSec: number): CheckContext => {
    const deadline = Date.now() + timeoutSec * 1000
    const exec = (command: string): Promise<ExecResult> => {
      const remaining = deadline - Date.now()
      if (remaining <= 0) return Promise.reject(new CheckTimeoutError(timeoutSec))
      return batcher.exec(command, {timeoutMs: remaining})
    }
    return {
      lab,
      params,
      exec,
      random,
      truth: (command) => once(`truth:${command}`, () => exec(command)),
      answers: () => once<AnswerSheet>('answers', async () => {
        const path = lab.answerSheet ?? ''
        return interpretSheetRead(await exec(readSheetCommand(lab.learner, path)), sheetShownAs(path))
      }),
    }
  }

  const teardown = async (check: Check): Promise<string | undefined> => {
    if (check.kind !== 'behaviour' || !check.teardown) return undefined
    const seconds = options.teardownTimeoutSec ?? Math.max(60, check.timeoutSec)
    try {
      const result = await withTimeout(session.exec(check.teardown, {timeoutMs: seconds * 1000}), seconds)
      if (result.code === 0) return undefined
      const said = firstLine(result.stderr) || firstLine(result.stdout)
      return `putting the VM back failed (${describeEnd(result)}${said ? `: ${said}` : ''})`
    } catch (error) {
      if (error instanceof ChaosLabError && error.code === 'connection_lost') connectionLost = true
      return `putting the VM back failed (${isTimeout(error) ? `not done within ${seconds} s` : errorMessage(error)})`
    }
  }

  const attempt = async (check: Check): Promise<AttemptVerdict> => {
    let verdict: AttemptVerdict
    try {
      verdict = await withTimeout(runKind(check, contextFor(check.timeoutSec)), check.timeoutSec)
    } catch (error) {
      verdict = verdictFromError(error, check)
    }
    const teardownProblem = await teardown(check)
    if (teardownProblem) {
      verdict = verdict.status === 'pass'
        ? {status: 'error', message: `the experiment passed, but ${teardownProblem}`, hint: 'Start the FizzBuzz units again with `sudo systemctl reset-failed` and `sudo systemctl start`, then run the check again.'}
        : {...verdict, message: `${verdict.message}; then ${teardownProblem}`}
    }
    return verdict
  }

  const execute = async (check: Check): Promise<CheckResult> => {
    const attempts = check.retry?.attempts ?? 1
    const delayMs = (check.retry?.delaySec ?? 0) * 1000
    const exclusive = check.kind === 'behaviour'
    let startedAt: number | undefined
    let verdict: AttemptVerdict = {status: 'error', message: 'not run'}
    let tries = 0
    for (let i = 1; i <= attempts; i++) {
      tries = i
      verdict = await slots.run(exclusive, () => {
        if (startedAt === undefined) {
          startedAt = Date.now()
          options.onCheckStart?.(check)
        }
        return attempt(check)
      })
      if (verdict.connectionLost) connectionLost = true
      if (verdict.status === 'pass' || verdict.connectionLost || i === attempts) break
      await sleep(delayMs)
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

  const byId = new Map(lab.checks.map((check) => [check.id, check]))
  const results = new Map<string, Promise<CheckResult>>()
  const resultOf = (id: string): Promise<CheckResult> => {
    let result = results.get(id)
    if (!result) {
      const check = byId.get(id)
      if (!check) throw new InternalError(`lab ${lab.lesson}: no check "${id}"`)
      result = (async () => {
        const prerequisites = await Promise.all(check.needs.map(resultOf))
        const blockers = prerequisites.filter((p) => p.status !== 'pass')
        const result: CheckResult = blockers.length === 0 ? await execute(check) : {
          id: check.id,
          title: check.title,
          status: 'blocked',
          message: `blocked by ${blockers.map((b) => b.id).join(', ')}`,
          hint: `First make ${blockers.map((b) => `"${b.title}"`).join(' and ')} pass; this check runs after ${blockers.length > 1 ? 'them' : 'it'}.`,
          durationMs: 0,
        }
        options.onCheckDone?.(result)
        return result
      })()
      results.set(id, result)
    }
    return result
  }
  const checks = await Promise.all(lab.checks.map((check) => resultOf(check.id)))
  return {
    run: {
      lesson: lab.lesson,
      target: options.target,
      started: started.toISOString(),
      finished: now().toISOString(),
      summary: summarize(checks),
      checks,
    },
    connectionLost,
  }
}

/** The exit code of `chaos-lab check`: 0 all passed; 3 the connection dropped; otherwise 1. Never 0 with an error. */
export function exitCodeFor(outcome: LessonOutcome): 0 | 1 | 3 {
  if (outcome.connectionLost) return 3
  const {summary} = outcome.run
  return summary.pass === summary.total && summary.error === 0 ? 0 : 1
}
