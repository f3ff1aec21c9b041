import {rmSync} from 'node:fs'

import type {Deps} from '../deps.js'
import {loadLab, withProvider, type LoadedLab} from '../config/load.js'
import type {ProviderName} from '../config/schema.js'
import {InternalError, UsageError} from '../errors.js'
import {provisionTasks, type ProvisionContext, type ProvisionReport} from '../provision/tasks.js'
import {PRISTINE_SNAPSHOT, Vagrant, type VagrantStatus} from '../providers/vagrant.js'
import {writeVagrantfile} from '../render/vagrantfile.js'
import {labKnownHosts, resolveTarget} from '../target/resolve.js'
import {liveTail, runWithProgress} from '../ui/progress.js'
import {newLogFile} from './logs.js'

export interface UpFlags {
  dir: string
  provider?: ProviderName | undefined
  verbose: boolean
}

export interface UpReport {
  dir: string
  provider: ProviderName
  machine: string
  target: string
  provision: ProvisionReport
  /** What happened to the pristine snapshot that `reset` restores. */
  snapshot: 'taken' | 'kept' | 'not-supported'
}

interface UpContext extends ProvisionContext {
  snapshot?: UpReport['snapshot']
}

function vagrantFor(lab: LoadedLab, deps: Deps): Vagrant {
  return new Vagrant(deps.runner, lab.dir, deps.env)
}

/** Refuses Vagrant-only operations on a lab whose machine chaos-lab did not create. */
function requireVagrantLab(lab: LoadedLab, what: string): void {
  if (lab.config.provider === 'ssh') {
    throw new UsageError(`This lab uses an existing host (provider ssh), which chaos-lab did not create, so it will not ${what} it.`, {
      suggestion: 'Manage that host yourself; chaos-lab provision, check and reset lesson work on it.',
    }, 'not_a_vagrant_lab')
  }
}

/** `chaos-lab up`: render the Vagrantfile, start the VM, pin its host key, provision, take the pristine snapshot. */
export async function bringUp(flags: UpFlags, deps: Deps, ui: {json: boolean}): Promise<UpReport> {
  let lab = loadLab(flags.dir)
  if (flags.provider) lab = withProvider(lab, flags.provider)
  const {config} = lab
  const logFile = newLogFile('up', lab.dir, deps.now(), deps.env)
  const vagrant = vagrantFor(lab, deps)
  const ctx: UpContext = {}
  const isVagrant = config.provider !== 'ssh'
  try {
    await runWithProgress<UpContext>([
      {
        title: 'Write the Vagrantfile',
        enabled: isVagrant,
        task: (_c, task) => {
          const changed = writeVagrantfile(lab.dir, config)
          task.title = changed ? 'Wrote the Vagrantfile' : 'The Vagrantfile is up to date'
        },
      },
      {
        title: `Start the VM (vagrant up --provider ${config.provider})`,
        enabled: isVagrant,
        rendererOptions: liveTail,
        task: async (_c, task) => { await vagrant.up(config.provider, (line) => { task.output = line }) },
      },
      {
        title: 'Connect over SSH and record the VM\'s host key',
        task: async (c) => {
          const resolved = await resolveTarget({dir: lab.dir}, deps)
          c.session = await deps.connectSsh(resolved.target, {knownHosts: resolved.knownHosts})
        },
      },
      {
        title: 'Provision',
        task: (_c, task) => task.newListr(provisionTasks<UpContext>({profile: config.profile, force: false, logFile}), {exitOnError: true}),
      },
      {
        title: `Take the snapshot ${PRISTINE_SNAPSHOT} (what \`chaos-lab reset\` restores)`,
        enabled: isVagrant,
        rendererOptions: liveTail,
        task: async (c, task) => {
          // Kept only while provisioning changed nothing: a snapshot older than the VM's provisioning would make
          // `reset` restore an outdated lab.
          if (!c.provision?.changed && (await vagrant.snapshots()).includes(PRISTINE_SNAPSHOT)) {
            c.snapshot = 'kept'
            task.skip('it already exists')
            return
          }
          await vagrant.saveSnapshot(PRISTINE_SNAPSHOT, (line) => { task.output = line })
          c.snapshot = 'taken'
        },
      },
    ], ctx, {json: ui.json, verbose: flags.verbose})
  } finally {
    await ctx.session?.close()
  }
  // The provisioning tasks always set it; a list that stopped early has thrown above.
  if (!ctx.provision) throw new InternalError('`up` finished without a provisioning report.')
  return {
    dir: lab.dir,
    provider: config.provider,
    machine: config.hostname,
    target: ctx.session ? `${ctx.session.target.user}@${ctx.session.target.host}:${ctx.session.target.port}` : '',
    provision: ctx.provision,
    snapshot: isVagrant ? ctx.snapshot ?? 'kept' : 'not-supported',
  }
}

export interface StatusReport {
  dir: string
  provider: ProviderName
  machine: string
  /** Vagrant's state (running, poweroff, shutoff, not_created…) or, for provider ssh, reachable/unreachable. */
  state: string
  snapshots: string[]
}

export async function machineStatus(dir: string, deps: Deps): Promise<StatusReport> {
  const lab = loadLab(dir)
  const base = {dir: lab.dir, provider: lab.config.provider, machine: lab.config.hostname}
  if (lab.config.provider === 'ssh') {
    const resolved = await resolveTarget({dir}, deps)
    try {
      const session = await deps.connectSsh(resolved.target, {knownHosts: resolved.knownHosts, readyTimeoutMs: 10_000})
      await session.close()
      return {...base, state: 'reachable', snapshots: []}
    } catch {
      return {...base, state: 'unreachable', snapshots: []}
    }
  }
  const vagrant = vagrantFor(lab, deps)
  const status: VagrantStatus = await vagrant.status()
  const snapshots = status.state === 'not_created' ? [] : await vagrant.snapshots()
  return {...base, state: status.state, snapshots}
}

export async function haltMachine(dir: string, deps: Deps, ui: {json: boolean; verbose: boolean}): Promise<{dir: string; state: string}> {
  const lab = loadLab(dir)
  requireVagrantLab(lab, 'stop')
  const vagrant = vagrantFor(lab, deps)
  await runWithProgress([{title: 'Stop the VM (vagrant halt)', rendererOptions: liveTail, task: async (_c, task) => { await vagrant.halt((line) => { task.output = line }) }}], {}, ui)
  return {dir: lab.dir, state: (await vagrant.status()).state}
}

/** Loads the lab first, so a bad config or a non-Vagrant lab is refused before anyone is asked anything. */
export function labForDestroy(dir: string): LoadedLab {
  const lab = loadLab(dir)
  requireVagrantLab(lab, 'destroy')
  return lab
}

export async function destroyMachine(lab: LoadedLab, deps: Deps, ui: {json: boolean; verbose: boolean}): Promise<{dir: string; state: string}> {
  const vagrant = vagrantFor(lab, deps)
  await runWithProgress([{title: 'Destroy the VM (vagrant destroy)', rendererOptions: liveTail, task: async (_c, task) => { await vagrant.destroy((line) => { task.output = line }) }}], {}, ui)
  // The next VM will have a new host key: forget this one's, it belongs to a machine that no longer exists.
  rmSync(labKnownHosts(lab.dir).file, {force: true})
  return {dir: lab.dir, state: (await vagrant.status()).state}
}
