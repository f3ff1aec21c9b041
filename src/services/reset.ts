import {resolve} from 'node:path'

import type {Deps} from '../deps.js'
import type {LabFolder} from '../config/lab-folder.js'
import {ExitCode, InternalError, UsageError} from '../errors.js'
import {forEachHost, selectHosts, type FleetFlags, type FleetReport} from '../fleet/run.js'
import {PRISTINE_SNAPSHOT, type Vagrant} from '../providers/vagrant.js'
import {lessonResetScript} from '../reset/lesson-reset.js'
import {resetMachine, type ResetPlan, type ResetReport} from '../reset/reset.js'
import {liveTail, runWithProgress} from '../ui/progress.js'
import {resolveMachine, vagrantOf, withSession, type Machine, type TargetFlags} from './machine.js'

export interface ResetFlags extends Omit<TargetFlags, 'dir'> {
  lesson?: string | undefined
  backupDir?: string | undefined
  verbose: boolean
}

/** A reset checked and ready: `describe` is the question to confirm, `run` does it. */
export interface PreparedReset<R> {
  describe: string
  run: (ui: {json: boolean}) => Promise<R>
}

/** Whole-VM reset needs Vagrant's snapshot: refuse early for other machines. */
async function requirePristineSnapshot(machine: Machine, deps: Deps): Promise<Vagrant> {
  const {lab} = machine
  if (!lab?.isVagrant) {
    throw new UsageError('Only a VM made by `chaos-lab up` has a snapshot to restore; this machine has none.', {
      suggestion: 'Name the lesson to reset instead, e.g. `chaos-lab reset lesson-2`.',
    }, 'no_snapshot')
  }
  const vagrant = vagrantOf(lab, deps)
  if (!(await vagrant.snapshots()).includes(PRISTINE_SNAPSHOT)) {
    throw new UsageError(`The VM has no ${PRISTINE_SNAPSHOT} snapshot to go back to.`, {
      suggestion: 'Run `chaos-lab up`: it takes the snapshot after the first successful provisioning.',
    }, 'no_snapshot')
  }
  return vagrant
}

/**
 * `chaos-lab reset [LESSON]`. Everything that can be refused is checked before anyone is asked: the config, the
 * lesson, the target and, for a whole-VM reset, that the pristine snapshot exists.
 */
export async function prepareReset(flags: ResetFlags, lab: LabFolder | undefined, deps: Deps): Promise<PreparedReset<ResetReport>> {
  const lessonScript = flags.lesson ? lessonResetScript(flags.lesson) : undefined
  const machine = await resolveMachine(flags, lab, deps)
  const vagrant = flags.lesson ? undefined : await requirePristineSnapshot(machine, deps)
  const backupDir = resolve(flags.backupDir ?? machine.lab?.backupDir ?? '.')
  const plan: ResetPlan = {lesson: flags.lesson, lessonScript, vagrant, backupDir}
  const what = flags.lesson ? `Reset ${flags.lesson} on ${machine.target.name}` : `Restore the whole VM ${machine.target.name} to its pristine snapshot`
  return {
    describe: `${what}? The learner's work is copied to ${backupDir} first.`,
    run: async (ui) => {
      let report: ResetReport | undefined
      await runWithProgress([{
        title: `${what} (backup first)`,
        rendererOptions: liveTail,
        task: async (_c, task) => {
          report = await withSession(machine, deps, (session) => resetMachine(session, plan, deps.now(), (line) => { task.output = line }))
        },
      }], {}, {json: ui.json, verbose: flags.verbose})
      // The task always sets it; a task that failed has thrown above.
      if (!report) throw new InternalError('`reset` finished without a report.')
      return report
    },
  }
}

/** `chaos-lab reset LESSON --inventory F`: the lesson's reset on every host, each learner's work backed up first. */
export function prepareClassReset(flags: ResetFlags & FleetFlags, deps: Deps): PreparedReset<FleetReport<ResetReport>> {
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
      const report = await resetMachine(session, plan, deps.now(), progress)
      return {result: report, exitCode: ExitCode.ok, summary: `reset; work saved to ${report.backup.file}`}
    }),
  }
}
