import type {Deps} from '../deps.js'
import {ExitCode, InternalError} from '../errors.js'
import {forEachHost, selectHosts, type FleetFlags, type FleetReport} from '../fleet/run.js'
import {provisionSession, provisionTasks, type ProvisionContext, type ProvisionReport} from '../provision/tasks.js'
import {resolveTarget, type TargetFlags} from '../target/resolve.js'
import {runWithProgress} from '../ui/progress.js'
import {newLogFile} from './logs.js'

export interface ProvisionFlags extends TargetFlags {
  profile?: 'desktop' | 'headless' | undefined
  force: boolean
  verbose: boolean
}

/** `chaos-lab provision`: resolve the machine, connect once, run the steps. */
export async function provisionTarget(flags: ProvisionFlags, deps: Deps, ui: {json: boolean}): Promise<ProvisionReport> {
  const resolved = await resolveTarget(flags, deps)
  const profile = flags.profile ?? resolved.lab?.config.profile ?? 'headless'
  const logFile = newLogFile('provision', resolved.lab?.dir, deps.now(), deps.env)
  const ctx: ProvisionContext = {}
  try {
    await runWithProgress<ProvisionContext>([
      {
        title: `Connect to ${resolved.target.user}@${resolved.target.host}:${resolved.target.port}`,
        task: async (c) => { c.session = await deps.connectSsh(resolved.target, {knownHosts: resolved.knownHosts}) },
      },
      ...provisionTasks<ProvisionContext>({profile, force: flags.force, logFile}),
    ], ctx, {json: ui.json, verbose: flags.verbose})
  } finally {
    await ctx.session?.close()
  }
  // The provisioning tasks always set it; a list that stopped early has thrown above.
  if (!ctx.provision) throw new InternalError('`provision` finished without a report.')
  return ctx.provision
}

/** `chaos-lab provision --inventory`: every selected host, a few at a time; one log file per host. */
export async function provisionFleet(flags: ProvisionFlags & FleetFlags, deps: Deps, ui: {json: boolean}): Promise<FleetReport<ProvisionReport>> {
  const hosts = selectHosts(flags)
  const profile = flags.profile ?? 'headless'
  return forEachHost(hosts, flags, deps, ui, async (session, host, progress) => {
    const logFile = newLogFile(`provision-${host.name}`, undefined, deps.now(), deps.env)
    const report = await provisionSession(session, {profile, force: flags.force, logFile}, progress)
    return {result: report, exitCode: ExitCode.ok, summary: report.changed ? `provisioned in ${(report.durationMs / 1000).toFixed(0)} s` : 'already provisioned'}
  })
}
