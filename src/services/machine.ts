import {join, resolve} from 'node:path'

import type {Deps} from '../deps.js'
import {LabFolder, logFileName} from '../config/lab-folder.js'
import {UsageError} from '../errors.js'
import {Vagrant} from '../providers/vagrant.js'
import {KnownHosts} from '../ssh/known-hosts.js'
import type {SshSession} from '../ssh/session.js'
import {parseTargetUrl, type SshTarget} from '../ssh/target.js'
import {expandHome, userKnownHostsFile, userLogsDir} from '../util/paths.js'

/**
 * The machine a command works on, shared by the services: the lab folder's (its VM, or its existing host) or an
 * explicit `--target`. The lab folder is loaded once, by the service, and handed on.
 */

export interface TargetFlags {
  dir: string
  target?: string | undefined
  identity?: string | undefined
}

export interface Machine {
  target: SshTarget
  knownHosts: KnownHosts
  /** The lab folder, when the machine came from one (absent for --target). */
  lab?: LabFolder
}

/** The lab folder a command works on, or none when `--target` names the machine. */
export function labUnlessTarget(flags: TargetFlags): LabFolder | undefined {
  return flags.target ? undefined : LabFolder.load(flags.dir)
}

/**
 * Where to connect: `--target ssh://USER@HOST:PORT --identity KEY` (known_hosts in the user's config folder), or
 * the lab folder's machine (provider ssh: from chaos-lab.yaml; Vagrant providers: from `vagrant ssh-config`).
 */
export async function resolveMachine(flags: Omit<TargetFlags, 'dir'>, lab: LabFolder | undefined, deps: Deps): Promise<Machine> {
  if (flags.target || !lab) {
    if (!flags.target) throw new UsageError('No machine to work on: pass --target, or --dir with a lab folder.', {}, 'no_target')
    const target = parseTargetUrl(flags.target, flags.identity && resolve(expandHome(flags.identity, deps.env)))
    return {target, knownHosts: new KnownHosts(userKnownHostsFile(deps.env))}
  }
  const knownHosts = new KnownHosts(lab.knownHostsFile)
  const {config} = lab
  if (config.provider === 'ssh' && config.ssh) {
    const {host, port, user, identityFile} = config.ssh
    return {lab, knownHosts, target: {host, port, user, identityFile: resolve(lab.dir, expandHome(identityFile, deps.env)), name: `${host}:${port}`}}
  }
  const target = await vagrantOf(lab, deps).sshConfig()
  return {lab, knownHosts, target: {...target, name: config.hostname}}
}

/** Opens one SSH session for the callback and always closes it. */
export async function withSession<T>(machine: Machine, deps: Deps, fn: (session: SshSession) => Promise<T>): Promise<T> {
  const session = await deps.connectSsh(machine.target, {knownHosts: machine.knownHosts})
  try {
    return await fn(session)
  } finally {
    await session.close()
  }
}

/** Vagrant, run in the lab folder. */
export function vagrantOf(lab: LabFolder, deps: Deps): Vagrant {
  return new Vagrant(deps.runner, lab.dir, deps.env)
}

/** Refuses Vagrant-only operations on a lab whose machine chaos-lab did not create. */
export function requireVagrantLab(lab: LabFolder, what: string): void {
  if (!lab.isVagrant) {
    throw new UsageError(`This lab uses an existing host (provider ssh), which chaos-lab did not create, so it will not ${what} it.`, {
      suggestion: 'Manage that host yourself; chaos-lab provision, check and reset lesson work on it.',
    }, 'not_a_vagrant_lab')
  }
}

/** A new log file for one run: in the lab folder's .chaos-lab/logs, or the user's config folder without one. */
export function newLogFile(kind: string, lab: LabFolder | undefined, deps: Deps): string {
  const now = deps.now()
  return lab ? lab.logFile(kind, now) : join(userLogsDir(deps.env), logFileName(kind, now))
}
