import type {Deps} from '../deps.js'
import type {LabFolder} from '../config/lab-folder.js'
import {CommandNotFoundError} from '../process/runner.js'
import {resolveMachine, type TargetFlags} from './machine.js'

/** `chaos-lab ssh`: OpenSSH to the machine with chaos-lab's key and pinned host key; returns the remote exit code. */
export async function openShell(flags: Omit<TargetFlags, 'dir'> & {user: string}, lab: LabFolder | undefined, command: string[], deps: Deps): Promise<number> {
  const {target, knownHosts} = await resolveMachine(flags, lab, deps)
  // Pin the key first through ssh2 (accept-new), so OpenSSH below can insist on it.
  const session = await deps.connectSsh(target, {knownHosts})
  await session.close()
  const args = [
    '-i', target.identityFile,
    '-p', String(target.port),
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${knownHosts.file}`,
    '-o', 'StrictHostKeyChecking=yes',
    ...(command.length ? [] : ['-t']),
    `${flags.user}@${target.host}`,
    ...command,
  ]
  try {
    const result = await deps.runner.run('ssh', args, {interactive: true})
    return result.exitCode
  } catch (error) {
    if (error instanceof CommandNotFoundError) throw new CommandNotFoundError('ssh', 'Install the OpenSSH client (Debian/Ubuntu: sudo apt-get install openssh-client; Windows: the OpenSSH Client optional feature).')
    throw error
  }
}
