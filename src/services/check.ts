import {resolve} from 'node:path'

import type {Deps} from '../deps.js'
import type {LabFolder} from '../config/lab-folder.js'
import {ExitCode, UsageError} from '../errors.js'
import {forEachHost, selectHosts, type FleetFlags, type FleetReport} from '../fleet/run.js'
import type {Params} from '../lessons/kinds/types.js'
import {loadLesson} from '../lessons/load.js'
import type {CheckResult, LessonRun} from '../lessons/result.js'
import {BOOK_DEFAULT_PARAMS, exitCodeFor, runLesson, type LessonOutcome} from '../lessons/runner.js'
import type {Check, Lesson} from '../lessons/schema.js'
import {provisionedChapters} from '../provision/provisioner.js'
import type {SshSession} from '../ssh/session.js'
import {writeClassReport, type ClassRun} from '../report/class-report.js'
import {toJsonRun} from '../report/json.js'
import {writeJunitFile} from '../report/junit.js'
import {resolveMachine, withSession, type Machine, type TargetFlags} from './machine.js'

export interface CheckFlags extends Omit<TargetFlags, 'dir'> {
  /** Memory (MB) and CPUs the VM was made with, when checking a --target (a lab folder knows its own). */
  memory?: number | undefined
  cpus?: number | undefined
  /** Also write the results as JUnit XML to this file. */
  junit?: string | undefined
}

export interface CheckProgress {
  onCheckStart?: (check: Check) => void
  onCheckDone?: (result: CheckResult) => void
}

/**
 * What lesson-1 compares the VM's size with: --memory/--cpus, else the lab folder's chaos-lab.yaml (the sizes
 * its provider really gives the VM), else the book's 4096 MB and 2 CPUs — and every message says which.
 */
export function paramsFor(flags: CheckFlags, lab: LabFolder | undefined): Params {
  const vm = lab?.config.vm
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
export function targetLabel(machine: Pick<Machine, 'lab' | 'target'>): string {
  const {target, lab} = machine
  return lab?.isVagrant ? target.name : `${target.user}@${target.host}:${target.port}`
}

function requireSizes(flags: CheckFlags): void {
  for (const [name, value, min] of [['--memory', flags.memory, 256], ['--cpus', flags.cpus, 1]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < min)) {
      throw new UsageError(`${name} must be a whole number of at least ${min}, not ${value}.`, {}, 'bad_flag')
    }
  }
}

/**
 * A lesson of a chapter the machine was provisioned without cannot pass: say so (exit 2) and how to add it. A
 * machine with no stamps at all (a plain `vagrant up`) is not refused: nobody knows what it has.
 */
export async function requireChapter(lesson: Lesson, session: SshSession, target: string, how = 'chaos-lab provision'): Promise<void> {
  const {chapter} = lesson
  if (chapter === undefined) return
  const chapters = await provisionedChapters(session)
  if (chapters === undefined || chapters.includes(chapter)) return
  throw new UsageError(`${lesson.lesson} belongs to chapter ${chapter}, and ${target} was provisioned without it (its chapters: ${chapters.join(', ') || 'none'}).`, {
    suggestion: `Add chapter ${chapter} to the lab (chapters already there are not redone): ${how} --chapters ${chapter}, then run the check again.`,
    data: {lesson: lesson.lesson, chapter, provisioned: chapters},
  }, 'chapter_not_provisioned')
}

/**
 * `chaos-lab check LESSON`: load the lesson (an unknown one fails before any connection), resolve the machine,
 * open one SSH session, run the checks, close. A machine that cannot be reached throws UnreachableError (exit 3).
 */
export async function checkLesson(lesson: string, flags: CheckFlags, lab: LabFolder | undefined, deps: Deps, progress: CheckProgress = {}): Promise<LessonOutcome> {
  const definition = loadLesson(lesson)
  requireSizes(flags)
  const machine = await resolveMachine(flags, lab, deps)
  const how = flags.target ? `chaos-lab provision --target ${flags.target}${flags.identity ? ` --identity ${flags.identity}` : ''}` : 'chaos-lab provision'
  const outcome = await withSession(machine, deps, async (session) => {
    await requireChapter(definition, session, targetLabel(machine), how)
    return runLesson(definition, session, {
      target: targetLabel(machine),
      params: paramsFor(flags, machine.lab),
      profile: machine.lab?.config.profile,
      now: deps.now,
      sleep: deps.sleep,
      ...progress,
    })
  })
  if (flags.junit) writeJunitFile(resolve(flags.junit), toJsonRun(outcome.run))
  return outcome
}

export interface ClassCheckFlags extends CheckFlags, FleetFlags {
  report?: string | undefined
}

export interface ClassCheck extends FleetReport<LessonRun> {
  lesson: string
  /** Files of the class report, when --report was given. */
  reportFiles: string[]
}

/** `chaos-lab check LESSON --inventory F [--report DIR]`: the lesson on every host, then the class report. */
export async function checkClass(lesson: string, flags: ClassCheckFlags, deps: Deps, ui: {json: boolean}): Promise<ClassCheck> {
  const definition = loadLesson(lesson)
  const hosts = selectHosts(flags)
  const started = deps.now().toISOString()
  const params = paramsFor(flags, undefined)
  const fleet = await forEachHost(hosts, flags, deps, ui, async (session, host, progress) => {
    await requireChapter(definition, session, host.name, `chaos-lab provision --inventory ${flags.inventory} --limit ${host.name}`)
    const outcome = await runLesson(definition, session, {
      target: host.name,
      params,
      now: deps.now,
      sleep: deps.sleep,
      onCheckDone: (result) => { progress(`${result.status} ${result.id}`) },
    })
    const {summary} = outcome.run
    return {result: outcome.run, exitCode: exitCodeFor(outcome), summary: `${summary.pass}/${summary.total} passed${outcome.connectionLost ? ' (connection lost)' : ''}`}
  })
  // The connection dropped during the run: the host is unreachable (exit 3) in the JSON and the summary too, as
  // in the class report, with the checks that did run kept.
  for (const outcome of fleet.hosts) {
    if (outcome.status === 'ok' && outcome.exitCode === ExitCode.machine) {
      outcome.status = 'unreachable'
      outcome.error = {code: 'connection_lost', message: `The SSH connection to ${outcome.host} was lost during the check.`}
      fleet.summary.ok--
      fleet.summary.unreachable++
    }
  }
  let reportFiles: string[] = []
  if (flags.report) {
    const classRun: ClassRun = {lesson, started, finished: deps.now().toISOString(), hosts: fleet.hosts}
    reportFiles = (await writeClassReport(resolve(flags.report), classRun)).files
  }
  return {...fleet, lesson, reportFiles}
}
