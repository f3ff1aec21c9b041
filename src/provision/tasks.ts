import type {ListrTask} from 'listr2'

import type {SshSession} from '../ssh/session.js'
import {liveTail} from '../ui/progress.js'
import {loadBundle, type ProvisioningStep} from './bundle.js'
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

/** One provisioning run on one machine, keeping its report as it goes. */
export class ProvisionRun {
  readonly report: ProvisionReport
  private readonly provisioner: Provisioner
  private readonly started = Date.now()
  private pending = new Set<string>()

  constructor(session: SshSession, options: ProvisionOptions) {
    this.provisioner = new Provisioner(session, loadBundle(options.profile), {profile: options.profile, force: options.force, log: new ProvisionLog(options.logFile)})
    this.report = {target: session.target.name, profile: options.profile, uploaded: false, changed: false, steps: [], durationMs: 0, logFile: options.logFile}
  }

  get steps(): ProvisioningStep[] {
    return this.provisioner.bundle.steps
  }

  /** Checks sudo, reads the stamps, uploads the bundle when a step will run. Returns how many steps will run. */
  async prepare(): Promise<number> {
    this.pending = new Set((await this.provisioner.prepare()).map((step) => step.name))
    if (this.pending.size > 0) this.report.uploaded = await this.provisioner.upload()
    return this.pending.size
  }

  willRun(step: ProvisioningStep): boolean {
    return this.pending.has(step.name)
  }

  async runStep(step: ProvisioningStep, onLine: (line: string) => void): Promise<void> {
    if (!this.willRun(step)) {
      this.report.steps.push({name: step.name, status: 'skipped', durationMs: 0})
      return
    }
    const stepStarted = Date.now()
    try {
      await this.provisioner.runStep(step, onLine)
      this.report.steps.push({name: step.name, status: 'done', durationMs: Date.now() - stepStarted})
      this.report.changed = true
    } catch (error) {
      this.report.steps.push({name: step.name, status: 'failed', durationMs: Date.now() - stepStarted})
      throw error
    } finally {
      this.report.durationMs = Date.now() - this.started
    }
  }
}

export interface ProvisionContext {
  session?: SshSession
  provision?: ProvisionReport
}

/** The listr tasks of a provisioning run, one per step; `up` nests them after its own, `provision` runs them alone. */
export function provisionTasks<Ctx extends ProvisionContext>(options: ProvisionOptions): ListrTask<Ctx>[] {
  let run: ProvisionRun | undefined
  const stepNames = loadBundle(options.profile).steps
  return [
    {
      title: 'Check sudo, read what is already provisioned, upload what is needed',
      task: async (ctx, task) => {
        if (!ctx.session) throw new Error('provisionTasks needs an SSH session in the context')
        run = new ProvisionRun(ctx.session, options)
        ctx.provision = run.report
        const pending = await run.prepare()
        task.title = pending === 0 ? 'Everything is already provisioned' : `${pending} of ${run.steps.length} steps to run`
      },
    },
    ...stepNames.map((step): ListrTask<Ctx> => ({
      title: `Step ${step.name}`,
      rendererOptions: liveTail,
      task: async (_ctx, task) => {
        if (!run) throw new Error('provisionTasks: the step tasks need the first task to have run')
        const willRun = run.willRun(step)
        await run.runStep(step, (line) => { task.output = line })
        if (!willRun) task.skip(`Step ${step.name}: unchanged since it last ran`)
      },
    })),
  ]
}

/** The same run without a list of its own: for fleet runs, where each host has one progress line. */
export async function provisionSession(session: SshSession, options: ProvisionOptions, progress: (line: string) => void): Promise<ProvisionReport> {
  const run = new ProvisionRun(session, options)
  await run.prepare()
  for (const step of run.steps) await run.runStep(step, (line) => { progress(`${step.name}: ${line}`) })
  return run.report
}
