import {PRISTINE_SNAPSHOT, type Vagrant} from '../providers/vagrant.js'
import type {SshSession} from '../ssh/session.js'
import {backupLearnerWork, type Backup} from './backup.js'
import {runLessonReset} from './lesson-reset.js'

export interface ResetReport {
  target: string
  /** `vm` (the pristine snapshot was restored) or the lesson that was reset. */
  scope: string
  backup: Backup
}

export interface ResetPlan {
  lesson: string | undefined
  lessonScript: string | undefined
  vagrant: Vagrant | undefined
  backupDir: string
}

/** Backs up first (and stops if that fails), then restores the snapshot or runs the lesson's reset. */
export async function resetMachine(session: SshSession, plan: ResetPlan, now: Date, onLine: (line: string) => void): Promise<ResetReport> {
  const backup = await backupLearnerWork(session, plan.backupDir, now)
  onLine(`learner's work saved to ${backup.file}`)
  if (plan.lesson && plan.lessonScript) {
    await runLessonReset(session, plan.lesson, plan.lessonScript, onLine)
  } else if (plan.vagrant) {
    await session.close()
    await plan.vagrant.restoreSnapshot(PRISTINE_SNAPSHOT, onLine)
  }
  return {target: session.target.name, scope: plan.lesson ?? 'vm', backup}
}
