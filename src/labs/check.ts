import type {Deps} from '../deps.js'
import {UsageError} from '../errors.js'
import {resolveTarget, type ResolvedTarget, type TargetFlags} from '../target/resolve.js'
import type {Check} from './schema.js'
import {loadLesson} from './load.js'
import type {CheckResult} from './result.js'
import {BOOK_DEFAULT_PARAMS, runLesson, type LessonOutcome} from './runner.js'
import type {Params} from './kinds/types.js'

export interface CheckFlags extends TargetFlags {
  /** Memory (MB) and CPUs the VM was made with, when checking a --target (a lab folder knows its own). */
  memory?: number | undefined
  cpus?: number | undefined
}

export interface CheckProgress {
  onCheckStart?: (check: Check) => void
  onCheckDone?: (result: CheckResult) => void
}

/**
 * What lesson-1 compares the VM's size with: --memory/--cpus, else the lab folder's chaos-lab.yaml (the sizes
 * its provider really gives the VM), else the book's 4096 MB and 2 CPUs — and every message says which.
 */
export function paramsFor(flags: CheckFlags, resolved: Pick<ResolvedTarget, 'lab'>): Params {
  const vm = resolved.lab?.config.vm
  if (flags.memory !== undefined || flags.cpus !== undefined) {
    const from = [flags.memory !== undefined ? '--memory' : '', flags.cpus !== undefined ? '--cpus' : ''].filter(Boolean).join('/')
    return {
      values: {memoryMb: flags.memory ?? vm?.memory ?? BOOK_DEFAULT_PARAMS.values.memoryMb, cpus: flags.cpus ?? vm?.cpus ?? BOOK_DEFAULT_PARAMS.values.cpus},
      source: `from ${from}${flags.memory === undefined || flags.cpus === undefined ? (vm ? ' and chaos-lab.yaml' : ' and the book\'s defaults') : ''}`,
    }
  }
  if (vm) return {values: {memoryMb: vm.memory, cpus: vm.cpus}, source: 'from chaos-lab.yaml'}
  return BOOK_DEFAULT_PARAMS
}

/** How the report names the machine: the Vagrant machine's name, or user@host:port. */
export function targetLabel(resolved: Pick<ResolvedTarget, 'lab' | 'target'>): string {
  const {target, lab} = resolved
  return lab && lab.config.provider !== 'ssh' ? target.name : `${target.user}@${target.host}:${target.port}`
}

/**
 * `chaos-lab check LESSON`: load the lesson (an unknown one fails before any connection), resolve the machine,
 * open one SSH session, run the checks, close. A machine that cannot be reached throws UnreachableError (exit 3).
 */
export async function checkLesson(lesson: string, flags: CheckFlags, deps: Deps, progress: CheckProgress = {}): Promise<LessonOutcome> {
  const lab = loadLesson(lesson)
  for (const [name, value, min] of [['--memory', flags.memory, 256], ['--cpus', flags.cpus, 1]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < min)) {
      throw new UsageError(`${name} must be a whole number of at least ${min}, not ${value}.`, {}, 'bad_flag')
    }
  }
  const resolved = await resolveTarget(flags, deps)
  const session = await deps.connectSsh(resolved.target, {knownHosts: resolved.knownHosts})
  try {
    return await runLesson(lab, session, {
      target: targetLabel(resolved),
      params: paramsFor(flags, resolved),
      now: deps.now,
      ...progress,
    })
  } finally {
    await session.close()
  }
}
