import type {Deps} from '../deps.js'
import {UsageError} from '../errors.js'
import {PRISTINE_SNAPSHOT, Vagrant} from '../providers/vagrant.js'
import type {SshSession} from '../ssh/session.js'
import type {ResolvedTarget} from '../target/resolve.js'
import {backupLearnerWork, type Backup} from './backup.js'
import {runLessonReset} from './lesson-reset.js'

export interface ResetReport {
  target: string
  /** `vm` (the pristine snapshot was restored) or the lesson that was reset. */
  scope: string
  backup: Backup
}

/** Whole-VM reset needs Vagrant's snapshot: refuse early for other machines. */
export async function requirePristineSnapshot(resolved: ResolvedTarget, deps: Deps): Promise<Vagrant> {
  const lab = resolved.lab
  if (!lab || lab.config.provider === 'ssh') {
    throw new UsageError('Only a VM made by `chaos-lab up` has a snapshot to restore; this machine has none.', {
      suggestion: 'Name the lesson to reset instead, e.g. `chaos-lab reset lesson-2`.',
    }, 'no_snapshot')
  }
  const vagrant = new Vagrant(deps.runner, lab.dir, deps.env)
  if (!(await vagrant.snapshots()).includes(PRISTINE_SNAPSHOT)) {
    throw new UsageError(`The VM has no ${PRISTINE_SNAPSHOT} snapshot to go back to.`, {
      suggestion: 'Run `chaos-lab up`: it takes the snapshot after the first successful provisioning.',
    }, 'no_snapshot')
  }
  return vagrant
}

export interface ResetPlan {
  lesson: string | undefined
  lessonScript: string | undefined
  vagrant: Vagrant | undefined
  backupDir: string
}

/** Backs up first (and stops if that fails), then restores the snapshot or runs the lesson's reset. */
export async function resetMachine(session: SshSession, plan: ResetPlan, deps: Deps, onLine: (line: string) => void): Promise<ResetReport> {
  const backup = await backupLearnerWork(session, plan.backupDir, deps.now())
  onLine(`learner's work saved to ${backup.file}`)
  if (plan.lesson && plan.lessonScript) {
    await runLessonReset(session, plan.lesson, plan.lessonScript, onLine)
  } else if (plan.vagrant) {
    await session.close()
    await plan.vagrant.restoreSnapshot(PRISTINE_SNAPSHOT, onLine)
  }
  return {target: session.target.name, scope: plan.lesson ?? 'vm', backup}
}
