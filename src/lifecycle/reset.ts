import {resolve} from 'node:path'

import type {Deps} from '../deps.js'
import {ExitCode, InternalError, UsageError} from '../errors.js'
import {forEachHost, selectHosts, type FleetFlags, type FleetReport} from '../fleet/run.js'
import {lessonResetScript} from '../reset/lesson-reset.js'
import {requirePristineSnapshot, resetMachine, type ResetPlan, type ResetReport} from '../reset/reset.js'
import {resolveTarget, withSession, type ResolvedTarget, type TargetFlags} from '../target/resolve.js'
import {liveTail, runWithProgress} from '../ui/progress.js'

export interface ResetFlags extends TargetFlags {
  lesson?: string | undefined
  backupDir?: string | undefined
  verbose: boolean
}

export interface PreparedReset {
  describe: string
  run: (ui: {json: boolean}) => Promise<ResetReport>
}

/**
 * Everything that can be refused is checked before anyone is asked: the config, the lesson, the target and,
 * for a whole-VM reset, that the pristine snapshot exists.
 */
export async function prepareReset(flags: ResetFlags, deps: Deps): Promise<PreparedReset> {
  const lessonScript = flags.lesson ? lessonResetScript(flags.lesson) : undefined
  const resolved: ResolvedTarget = await resolveTarget(flags, deps)
  const vagrant = flags.lesson ? undefined : await requirePristineSnapshot(resolved, deps)
  const backupDir = resolve(flags.backupDir ?? resolved.lab?.dir ?? '.')
  const plan: ResetPlan = {lesson: flags.lesson, lessonScript, vagrant, backupDir}
  const what = flags.lesson ? `Reset ${flags.lesson} on ${resolved.target.name}` : `Restore the whole VM ${resolved.target.name} to its pristine snapshot`
  return {
    describe: `${what}? The learner's work is copied to ${backupDir} first.`,
    run: async (ui) => {
      let report: ResetReport | undefined
      await runWithProgress([{
        title: `${what} (backup first)`,
        rendererOptions: liveTail,
        task: async (_c, task) => {
          report = await withSession(resolved, deps, (session) => resetMachine(session, plan, deps, (line) => { task.output = line }))
        },
      }], {}, {json: ui.json, verbose: flags.verbose})
      // The task always sets it; a task that failed has thrown above.
      if (!report) throw new InternalError('`reset` finished without a report.')
      return report
    },
  }
}

export function prepareFleetReset(flags: ResetFlags & FleetFlags, deps: Deps): {describe: string; run: (ui: {json: boolean}) => Promise<FleetReport<ResetReport>>} {
  if (!flags.lesson) {
    throw new UsageError('A class is reset one lesson at a time: --inventory needs the lesson to reset.', {
      suggestion: 'For example: chaos-lab reset lesson-2 --inventory class.ini --yes',
    }, 'lesson_required')
  }
  const lessonScript = lessonResetScript(flags.lesson)
  const hosts = selectHosts(flags)
  const backupDir = resolve(flags.backupDir ?? '.')
  const plan: ResetPlan = {lesson: flags.lesson, lessonScript, vagrant: undefined, backupDir}
  return {
    describe: `Reset ${flags.lesson} on ${hosts.length} machines (${hosts.map((host) => host.name).join(', ')})? Each learner's work is copied to ${backupDir} first.`,
    run: (ui) => forEachHost(hosts, flags, deps, ui, async (session, _host, progress) => {
      const report = await resetMachine(session, plan, deps, progress)
      return {result: report, exitCode: ExitCode.ok, summary: `reset; work saved to ${report.backup.file}`}
    }),
  }
}
