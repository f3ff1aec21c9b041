import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {LEARNER_WORK} from '../config/learner.js'
import {LocalWriteError, MachineStepError} from '../errors.js'
import type {SshSession} from '../ssh/session.js'
import {shellQuote} from '../util/shell.js'

export interface Backup {
  file: string
  bytes: number
  /** The learner paths the archive holds (those that existed). */
  paths: string[]
}

/** The learner's work could not be archived in the machine or copied from it: nothing was reset. */
export class BackupFailedError extends MachineStepError {
  constructor(host: string, detail: string) {
    super(`Could not copy the learner's work from ${host} to this computer (${detail}), so nothing was reset.`, {
      suggestion: 'Check free disk space in the machine and that it is running (chaos-lab status), then try again.',
    }, 'backup_failed')
  }
}

/** The archive arrived but could not be written on this computer: nothing was reset. */
export class BackupUnwritableError extends LocalWriteError {
  constructor(host: string, file: string, detail: string) {
    super(`Could not write the backup of the learner's work from ${host} to ${file} (${detail}), so nothing was reset.`, {
      suggestion: 'Check free disk space and permissions on this computer, or pass --backup-dir with a folder you can write to, then try again.',
    }, 'backup_unwritable')
  }
}

function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '_')
}

/**
 * Archives the learner's work in the VM and copies it to the host as a timestamped .tar.gz. Restore it with
 * `chaos-lab ssh -- sudo tar -xzf - -C / < ARCHIVE`.
 */
export async function backupLearnerWork(session: SshSession, backupDir: string, now: Date): Promise<Backup> {
  const host = session.target.name
  const remote = `/tmp/chaos-lab-backup-${process.pid}-${now.getTime()}.tar.gz`
  const script = [
    'cd /',
    'set --',
    `for p in ${LEARNER_WORK.join(' ')}; do [ -e "$p" ] && set -- "$@" "$p"; done`,
    `if [ $# -gt 0 ]; then tar -czf ${remote} "$@"; else tar -czf ${remote} -T /dev/null; fi`,
    `chown ${shellQuote(session.target.user)} ${remote}`,
    'printf "%s\\n" "$@"',
  ].join('\n')
  const archive = await session.exec(`sudo -n sh -c ${shellQuote(`set -e\n${script}`)}`)
  if (archive.code !== 0) throw new BackupFailedError(host, `tar in the VM: ${archive.stderr.trim() || `exit ${archive.code}`}`)
  let data: Buffer
  try {
    data = await session.download(remote)
  } catch (error) {
    throw new BackupFailedError(host, (error as Error).message)
  } finally {
    await session.exec(`sudo -n rm -f ${remote}`).catch(() => undefined)
  }
  if (data.length < 20 || data[0] !== 0x1f || data[1] !== 0x8b) throw new BackupFailedError(host, 'the archive that arrived is not a gzip file')
  const stamp = now.toISOString().replace(/[:.]/g, '-')
  const file = join(backupDir, `chaos-lab-backup-${safeName(host)}-${stamp}.tar.gz`)
  try {
    mkdirSync(backupDir, {recursive: true})
    writeFileSync(file, data)
  } catch (error) {
    throw new BackupUnwritableError(host, file, (error as Error).message)
  }
  return {file, bytes: data.length, paths: archive.stdout.split('\n').filter(Boolean)}
}
