import type {Deps} from '../deps.js'
import type {LabFolder} from '../config/lab-folder.js'
import type {ProviderName} from '../config/schema.js'
import {ExitCode} from '../errors.js'
import {forEachHost, selectHosts, type FleetFlags, type FleetReport} from '../fleet/run.js'
import {REMOTE_STATE} from '../provision/bundle.js'
import {parseState} from '../provision/provisioner.js'
import {resolveMachine, vagrantOf} from './machine.js'

export interface StatusReport {
  dir: string
  provider: ProviderName
  machine: string
  /** Vagrant's state (running, poweroff, shutoff, not_created…) or, for provider ssh, reachable/unreachable. */
  state: string
  snapshots: string[]
}

/** `chaos-lab status`: Vagrant's view of the VM and its snapshots, or whether the existing host answers. */
export async function labStatus(lab: LabFolder, deps: Deps): Promise<StatusReport> {
  const base = {dir: lab.dir, provider: lab.config.provider, machine: lab.config.hostname}
  if (!lab.isVagrant) {
    const machine = await resolveMachine({}, lab, deps)
    try {
      const session = await deps.connectSsh(machine.target, {knownHosts: machine.knownHosts, readyTimeoutMs: 10_000})
      await session.close()
      return {...base, state: 'reachable', snapshots: []}
    } catch {
      return {...base, state: 'unreachable', snapshots: []}
    }
  }
  const vagrant = vagrantOf(lab, deps)
  const {state} = await vagrant.status()
  const snapshots = state === 'not_created' ? [] : await vagrant.snapshots()
  return {...base, state, snapshots}
}

export interface HostStatus {
  /** Provisioning steps stamped as finished in the machine. */
  provisioned: string[]
  /** Seconds since the machine booted. */
  uptimeSeconds: number
}

/** `chaos-lab status --inventory`: who is reachable, and how far each machine is provisioned. */
export async function classStatus(flags: FleetFlags, deps: Deps, ui: {json: boolean}): Promise<FleetReport<HostStatus>> {
  return forEachHost(selectHosts(flags), flags, deps, ui, async (session) => {
    const result = await session.exec(`cat /proc/uptime; sudo -n cat ${REMOTE_STATE} 2>/dev/null || true`)
    const [uptimeLine = '0', ...rest] = result.stdout.split('\n')
    const provisioned = Object.keys(parseState(rest.join('\n')).steps)
    const status: HostStatus = {provisioned, uptimeSeconds: Math.round(Number.parseFloat(uptimeLine))}
    return {result: status, exitCode: ExitCode.ok, summary: provisioned.length ? `up, provisioned: ${provisioned.join(', ')}` : 'up, not provisioned'}
  })
}
