import type {Deps} from '../deps.js'
import {ExitCode} from '../errors.js'
import {forEachHost, selectHosts, type FleetFlags, type FleetReport} from '../fleet/run.js'
import {REMOTE_STATE} from '../provision/bundle.js'
import {parseState} from '../provision/provisioner.js'

export interface HostStatus {
  /** Provisioning steps stamped as finished in the machine. */
  provisioned: string[]
  /** Seconds since the machine booted. */
  uptimeSeconds: number
}

/** `chaos-lab status --inventory`: who is reachable, and how far each machine is provisioned. */
export async function fleetStatus(flags: FleetFlags, deps: Deps, ui: {json: boolean}): Promise<FleetReport<HostStatus>> {
  return forEachHost(selectHosts(flags), flags, deps, ui, async (session) => {
    const result = await session.exec(`cat /proc/uptime; sudo -n cat ${REMOTE_STATE} 2>/dev/null || true`)
    const [uptimeLine = '0', ...rest] = result.stdout.split('\n')
    const provisioned = Object.keys(parseState(rest.join('\n')).steps)
    const status: HostStatus = {provisioned, uptimeSeconds: Math.round(Number.parseFloat(uptimeLine))}
    return {result: status, exitCode: ExitCode.ok, summary: provisioned.length ? `up, provisioned: ${provisioned.join(', ')}` : 'up, not provisioned'}
  })
}
