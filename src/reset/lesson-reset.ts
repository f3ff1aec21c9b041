import {existsSync, readFileSync, readdirSync} from 'node:fs'

import {LEARNER} from '../config/learner.js'
import {MachineStepError, UsageError} from '../errors.js'
import type {SshSession} from '../ssh/session.js'
import {closest} from '../util/did-you-mean.js'
import {packagePath} from '../util/paths.js'

/** A lesson's own reset: labs/<lesson>/reset.sh, run as root in the VM. */
export function lessonResetScript(lesson: string): string {
  const file = packagePath('labs', lesson, 'reset.sh')
  if (!existsSync(file)) {
    const lessons = existsSync(packagePath('labs')) ? readdirSync(packagePath('labs')).filter((name) => existsSync(packagePath('labs', name, 'reset.sh'))) : []
    const near = closest(lesson, lessons)
    throw new UsageError(`There is no lesson "${lesson}" that can be reset.`, {
      suggestion: `${near ? `Did you mean ${near}? ` : ''}Lessons with a reset: ${lessons.join(', ') || 'none'}. Without a lesson, \`chaos-lab reset\` restores the whole VM's snapshot.`,
    }, 'unknown_lesson')
  }
  return readFileSync(file, 'utf8')
}

export async function runLessonReset(session: SshSession, lesson: string, script: string, onLine: (line: string) => void): Promise<void> {
  const tail: string[] = []
  const result = await session.exec(`sudo -n env CHAOS_LAB_USER=${LEARNER} bash -s`, {
    stdin: script,
    timeoutMs: 5 * 60_000,
    onLine: (line) => { tail.push(line); if (tail.length > 10) tail.shift(); onLine(line) },
  })
  if (result.code !== 0) {
    throw new MachineStepError(`Resetting ${lesson} on ${session.target.name} failed (exit ${result.code ?? `SIG${result.signal}`}).\n${tail.join('\n')}`, {
      suggestion: 'The learner\'s work was backed up first. Fix the cause shown above, or run `chaos-lab provision --force` to rebuild the lesson\'s files, then reset again.',
    }, 'reset_failed')
  }
}
