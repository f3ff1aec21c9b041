import type {Deps} from '../deps.js'
import type {LabFolder} from '../config/lab-folder.js'
import type {ProviderName} from '../config/schema.js'
import {InternalError} from '../errors.js'
import {provisionTasks, type ProvisionContext, type ProvisionReport} from '../provision/tasks.js'
import {PRISTINE_SNAPSHOT} from '../providers/vagrant.js'
import {writeVagrantfile} from '../render/vagrantfile.js'
import {liveTail, runWithProgress} from '../ui/progress.js'
import {newLogFile, resolveMachine, vagrantOf} from './machine.js'

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

/**
 * `chaos-lab up`: render the Vagrantfile, start the VM, pin its host key, provision, take the pristine snapshot.
 * Every step works on the one lab folder given (with its command-line overrides).
 */
export async function up(lab: LabFolder, deps: Deps, ui: {json: boolean; verbose: boolean}): Promise<UpReport> {
  const {config} = lab
  const logFile = newLogFile('up', lab, deps)
  const vagrant = vagrantOf(lab, deps)
  const ctx: UpContext = {}
  try {
    await runWithProgress<UpContext>([
      {
        title: 'Write the Vagrantfile',
        enabled: lab.isVagrant,
        task: (_c, task) => {
          const changed = writeVagrantfile(lab, config)
          task.title = changed ? 'Wrote the Vagrantfile' : 'The Vagrantfile is up to date'
        },
      },
      {
        title: `Start the VM (vagrant up --provider ${config.provider})`,
        enabled: lab.isVagrant,
        rendererOptions: liveTail,
        task: async (_c, task) => { await vagrant.up(config.provider, (line) => { task.output = line }) },
      },
      {
        title: 'Connect over SSH and record the VM\'s host key',
        task: async (c) => {
          const machine = await resolveMachine({}, lab, deps)
          c.session = await deps.connectSsh(machine.target, {knownHosts: machine.knownHosts})
        },
      },
      {
        title: 'Provision',
        task: (_c, task) => task.newListr(provisionTasks<UpContext>({profile: config.profile, force: false, chapters: config.chapters, logFile, aptProxy: config.aptProxy}), {exitOnError: true}),
      },
      {
        title: `Take the snapshot ${PRISTINE_SNAPSHOT} (what \`chaos-lab reset\` restores)`,
        enabled: lab.isVagrant,
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
    ], ctx, ui)
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
    snapshot: lab.isVagrant ? ctx.snapshot ?? 'kept' : 'not-supported',
  }
}
