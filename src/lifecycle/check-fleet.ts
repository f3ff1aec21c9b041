import {resolve} from 'node:path'

import type {Deps} from '../deps.js'
import {ExitCode} from '../errors.js'
import {forEachHost, selectHosts, type FleetFlags, type FleetReport, type HostOutcome} from '../fleet/run.js'
import {paramsFor, type CheckFlags} from '../labs/check.js'
import {loadLesson} from '../labs/load.js'
import type {LessonRun} from '../labs/result.js'
import {exitCodeFor, runLesson} from '../labs/runner.js'
import {writeClassReport, type ClassRun, type HostOutcome as ReportRow} from '../report/class-report.js'

export interface ClassCheckFlags extends CheckFlags, FleetFlags {
  report?: string | undefined
}

export interface ClassCheck extends FleetReport<LessonRun> {
  lesson: string
  /** Files of the class report, when --report was given. */
  reportFiles: string[]
}

/** How a host appears in the class report: checked, or unreachable (with the checks it finished, if any). */
function reportRow(outcome: HostOutcome<LessonRun>): ReportRow {
  if (outcome.status === 'ok') return {host: outcome.host, status: 'checked', run: outcome.result}
  return {host: outcome.host, status: outcome.status, error: outcome.error, run: outcome.result}
}

/** `chaos-lab check LESSON --inventory F [--report DIR]`: the lesson on every host, then the class report. */
export async function checkClass(lesson: string, flags: ClassCheckFlags, deps: Deps, ui: {json: boolean}): Promise<ClassCheck> {
  const lab = loadLesson(lesson)
  const hosts = selectHosts(flags)
  const started = deps.now().toISOString()
  const params = paramsFor(flags, {})
  const fleet = await forEachHost(hosts, flags, deps, ui, async (session, host, progress) => {
    const outcome = await runLesson(lab, session, {
      target: host.name,
      params,
      now: deps.now,
      onCheckDone: (result) => { progress(`${result.status} ${result.id}`) },
    })
    const {summary} = outcome.run
    return {result: outcome.run, exitCode: exitCodeFor(outcome), summary: `${summary.pass}/${summary.total} passed${outcome.connectionLost ? ' (connection lost)' : ''}`}
  })
  // The connection dropped during the run: the host is unreachable (exit 3) in the JSON and the summary too, as
  // in the class report, with the checks that did run kept.
  for (const outcome of fleet.hosts) {
    if (outcome.status === 'ok' && outcome.exitCode === ExitCode.unreachable) {
      outcome.status = 'unreachable'
      outcome.error = {code: 'connection_lost', message: `The SSH connection to ${outcome.host} was lost during the check.`}
      fleet.summary.ok--
      fleet.summary.unreachable++
    }
  }
  let reportFiles: string[] = []
  if (flags.report) {
    const classRun: ClassRun = {lesson, started, finished: deps.now().toISOString(), hosts: fleet.hosts.map(reportRow)}
    reportFiles = (await writeClassReport(resolve(flags.report), classRun)).files
  }
  return {...fleet, lesson, reportFiles}
}
