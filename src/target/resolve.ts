import {join, resolve} from 'node:path'

import type {Deps} from '../deps.js'
import {loadLab, type LoadedLab} from '../config/load.js'
import {Vagrant} from '../providers/vagrant.js'
import {KnownHosts} from '../ssh/known-hosts.js'
import type {SshSession} from '../ssh/session.js'
import {parseTargetUrl, type SshTarget} from '../ssh/target.js'
import {expandHome, labStateDir, userConfigDir} from '../util/paths.js'

export interface TargetFlags {
  dir: string
  target?: string | undefined
  identity?: string | undefined
}

export interface ResolvedTarget {
  target: SshTarget
  knownHosts: KnownHosts
  /** The lab folder, when the target came from one (absent for --target). */
  lab?: LoadedLab
}

export function labKnownHosts(labDir: string): KnownHosts {
  return new KnownHosts(join(labStateDir(labDir), 'known_hosts'))
}

/**
 * Where to connect: `--target ssh://USER@HOST:PORT --identity KEY` (no lab folder needed; known_hosts in the
 * user's config folder), or the lab folder's machine (provider ssh: from chaos-lab.yaml; Vagrant providers:
 * from `vagrant ssh-config`).
 */
export async function resolveTarget(flags: TargetFlags, deps: Deps): Promise<ResolvedTarget> {
  if (flags.target) {
    const target = parseTargetUrl(flags.target, flags.identity && resolve(expandHome(flags.identity, deps.env)))
    return {target, knownHosts: new KnownHosts(join(userConfigDir(deps.env), 'known_hosts'))}
  }
  const lab = loadLab(flags.dir)
  const knownHosts = labKnownHosts(lab.dir)
  const {config} = lab
  if (config.provider === 'ssh' && config.ssh) {
    const {host, port, user, identityFile} = config.ssh
    return {lab, knownHosts, target: {host, port, user, identityFile: resolve(lab.dir, expandHome(identityFile, deps.env)), name: `${host}:${port}`}}
  }
  const target = await new Vagrant(deps.runner, lab.dir, deps.env).sshConfig()
  return {lab, knownHosts, target: {...target, name: config.hostname}}
}

/** Opens one SSH session for the callback and always closes it. */
export async function withSession<T>(resolved: ResolvedTarget, deps: Deps, fn: (session: SshSession) => Promise<T>): Promise<T> {
  const session = await deps.connectSsh(resolved.target, {knownHosts: resolved.knownHosts})
  try {
    return await fn(session)
  } finally {
    await session.close()
  }
}
