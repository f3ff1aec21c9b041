import type {ListrTask} from 'listr2'

import type {SshSession} from '../ssh/session.js'
import {liveTail} from '../ui/progress.js'
import {loadBundle} from './bundle.js'
import {ProvisionLog, Provisioner, type StepOutcome} from './provisioner.js'

export interface ProvisionOptions {
  profile: 'desktop' | 'headless'
  force: boolean
  /** Every line of every step goes here too. */
  logFile: string | undefined
}

export interface ProvisionReport {
  target: string
  profile: string
  uploaded: boolean
  /** True when any step ran. */
  changed: boolean
  steps: StepOutcome[]
  durationMs: number
  logFile: string | undefined
}

export interface ProvisionContext {
  session?: SshSession
  provision?: ProvisionReport
}

/** The listr tasks of a provisioning run; `up` nests them after its own, `provision` runs them alone. */
export function provisionTasks<Ctx extends ProvisionContext>(options: ProvisionOptions): ListrTask<Ctx>[] {
  let provisioner: Provisioner | undefined
  const started = Date.now()
  const log = new ProvisionLog(options.logFile)
  const outcome = (ctx: Ctx): ProvisionReport => {
    ctx.provision ??= {target: ctx.session?.target.name ?? '', profile: options.profile, uploaded: false, changed: false, steps: [], durationMs: 0, logFile: options.logFile}
    return ctx.provision
  }
  const bundle = loadBundle(options.profile)
  return [
    {
      title: 'Check sudo and read what is already provisioned',
      task: async (ctx, task) => {
        if (!ctx.session) throw new Error('provisionTasks needs an SSH session in the context')
        provisioner = new Provisioner(ctx.session, bundle, {profile: options.profile, force: options.force, log})
        const pending = await provisioner.prepare()
        task.title = pending.length === 0 ? 'Everything is already provisioned' : `${pending.length} of ${bundle.steps.length} steps to run`
        outcome(ctx)
      },
    },
    {
      title: 'Upload the provisioning files',
      skip: () => provisioner?.pendingSteps().length === 0 && 'nothing to run',
      task: async (ctx, task) => {
        const uploaded = await provisioner!.upload()
        outcome(ctx).uploaded = uploaded
        if (!uploaded) task.skip('the VM already has these files')
      },
    },
    ...bundle.steps.map((step): ListrTask<Ctx> => ({
      title: `Step ${step.name}`,
      rendererOptions: liveTail,
      task: async (ctx, task) => {
        const report = outcome(ctx)
        const stepStarted = Date.now()
        if (!provisioner!.pendingSteps().some((pending) => pending.name === step.name)) {
          report.steps.push({name: step.name, status: 'skipped', durationMs: 0})
          task.skip(`Step ${step.name}: unchanged since it last ran`)
          return
        }
        try {
          await provisioner!.runStep(step, (line) => { task.output = line })
          report.steps.push({name: step.name, status: 'done', durationMs: Date.now() - stepStarted})
          report.changed = true
        } catch (error) {
          report.steps.push({name: step.name, status: 'failed', durationMs: Date.now() - stepStarted})
          throw error
        } finally {
          report.durationMs = Date.now() - started
        }
      },
    })),
  ]
}
