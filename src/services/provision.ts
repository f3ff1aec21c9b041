import {chaptersAskedFor} from '../config/chapters.js'
import type {Deps} from '../deps.js'
import {LabFolder} from '../config/lab-folder.js'
import type {Profile} from '../config/schema.js'
import {ExitCode, InternalError} from '../errors.js'
import {forEachHost, selectHosts, type FleetFlags, type FleetReport} from '../fleet/run.js'
import {provisionSession, provisionTasks, type ProvisionContext, type ProvisionReport} from '../provision/tasks.js'
import {runWithProgress} from '../ui/progress.js'
import {newLogFile, resolveMachine, type TargetFlags} from './machine.js'

export interface ProvisionFlags extends Omit<TargetFlags, 'dir'> {
  profile?: Profile | undefined
  force: boolean
  verbose: boolean
  /** --chapters, parsed: chapters to add to what the lab has. */
  chapters?: number[] | undefined
}

/** `chaos-lab provision`: resolve the machine (the lab folder's, or --target), connect once, run the steps. */
export async function provision(flags: ProvisionFlags, lab: LabFolder | undefined, deps: Deps, ui: {json: boolean}): Promise<ProvisionReport> {
  const machine = await resolveMachine(flags, lab, deps)
  const profile = flags.profile ?? machine.lab?.config.profile ?? 'headless'
  const logFile = newLogFile('provision', machine.lab, deps)
  const ctx: ProvisionContext = {}
  try {
    await runWithProgress<ProvisionContext>([
      {
        title: `Connect to ${machine.target.user}@${machine.target.host}:${machine.target.port}`,
        task: async (c) => { c.session = await deps.connectSsh(machine.target, {knownHosts: machine.knownHosts}) },
      },
      ...provisionTasks<ProvisionContext>({profile, force: flags.force, chapters: chaptersAskedFor(flags.chapters, machine.lab), logFile, aptProxy: machine.lab?.config.aptProxy}),
    ], ctx, {json: ui.json, verbose: flags.verbose})
  } finally {
    await ctx.session?.close()
  }
  // The provisioning tasks always set it; a list that stopped early has thrown above.
  if (!ctx.provision) throw new InternalError('`provision` finished without a report.')
  return ctx.provision
}

/**
 * `chaos-lab provision --inventory`: every selected host, a few at a time; one log file per host. The lab folder
 * (--dir), when it has a chaos-lab.yaml, gives the settings every host gets (aptProxy, chapters), as it does for
 * `export ansible`.
 */
export async function provisionClass(flags: ProvisionFlags & FleetFlags & {dir: string}, deps: Deps, ui: {json: boolean}): Promise<FleetReport<ProvisionReport>> {
  const hosts = selectHosts(flags)
  const profile = flags.profile ?? 'headless'
  const lab = LabFolder.exists(flags.dir) ? LabFolder.load(flags.dir) : undefined
  const aptProxy = lab?.config.aptProxy ?? ''
  const chapters = chaptersAskedFor(flags.chapters, lab)
  return forEachHost(hosts, flags, deps, ui, async (session, host, progress) => {
    const logFile = newLogFile(`provision-${host.name}`, undefined, deps)
    const report = await provisionSession(session, {profile, force: flags.force, chapters, logFile, aptProxy}, progress)
    return {result: report, exitCode: ExitCode.ok, summary: report.changed ? `provisioned in ${(report.durationMs / 1000).toFixed(0)} s` : 'already provisioned'}
  })
}
