import type {ListrTask} from 'listr2'

import type {Profile} from '../config/schema.js'
import type {SshSession} from '../ssh/session.js'
import {liveTail} from '../ui/progress.js'
import {loadBundle, type Bundle, type ProvisioningStep, type StepSettings} from './bundle.js'
import {ProvisionLog, Provisioner, type StepOutcome} from './provisioner.js'

export interface ProvisionOptions {
  profile: Profile
  force: boolean
  /**
   * The book's chapters asked for (chaos-lab.yaml's `chapters` and --chapters); those already there stay. Undefined
   * (--target or --inventory without --chapters): the machine's own, or every chapter on a new machine.
   */
  chapters: readonly number[] | undefined
  /** Every line of every step goes here too. */
  logFile: string | undefined
  /** chaos-lab.yaml's aptProxy ('' or absent: none). */
  aptProxy?: string | undefined
}

/** The bundle of a run: the provisioning folder, the profile, and the settings the steps get (stepSettings). */
export function bundleFor(options: Pick<ProvisionOptions, 'profile' | 'aptProxy'>, root?: string): Bundle {
  return loadBundle(options.profile, root, stepSettings(options))
}

/** chaos-lab.yaml's settings as the steps' environment (provisioning/README.md, "Contract with the provisioner"). */
export function stepSettings(options: Pick<ProvisionOptions, 'aptProxy'>): StepSettings {
  return {CHAOS_LAB_APT_PROXY: options.aptProxy ?? ''}
}

export interface ProvisionReport {
  target: string
  profile: string
  uploaded: boolean
  /** True when any step ran. */
  changed: boolean
  steps: StepOutcome[]
  /** The chapters the machine has after this run. */
  chapters: number[]
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
    this.provisioner = new Provisioner(session, bundleFor(options), {profile: options.profile, force: options.force, log: new ProvisionLog(options.logFile), chapters: options.chapters})
    this.report = {target: session.target.name, profile: options.profile, uploaded: false, changed: false, steps: [], chapters: [], durationMs: 0, logFile: options.logFile}
  }

  get steps(): ProvisioningStep[] {
    return this.provisioner.bundle.steps
  }

  /** Checks sudo, reads the stamps, uploads the bundle when a step will run. Returns how many steps will run. */
  async prepare(): Promise<number> {
    this.pending = new Set((await this.provisioner.prepare()).map((step) => step.name))
    if (this.pending.size > 0) this.report.uploaded = await this.provisioner.upload()
    this.report.chapters = this.provisioner.chapters()
    return this.pending.size
  }

  willRun(step: ProvisioningStep): boolean {
    return this.pending.has(step.name)
  }

  /** Why a step does not run: unchanged, or a chapter this lab does not have. */
  skipReason(step: ProvisioningStep): string {
    return this.provisioner.inLab(step) || step.chapter === undefined
      ? `Step ${step.name}: unchanged since it last ran`
      : `Step ${step.name}: chapter ${step.chapter} is not in this lab (add it: chaos-lab provision --chapters ${step.chapter})`
  }

  /** The steps of this lab (every step that is no chapter's, and the lab's chapters'), after prepare(). */
  labSteps(): ProvisioningStep[] {
    return this.steps.filter((step) => this.provisioner.inLab(step))
  }

  /**
   * Runs a step, or notes it skipped. A step of a chapter the lab does not have is left out of the report: its
   * steps are the lab's (report.chapters says which chapters), so a lab's report does not change as chaos-lab
   * learns new chapters.
   */
  async runStep(step: ProvisioningStep, onLine: (line: string) => void): Promise<void> {
    if (!this.willRun(step)) {
      if (this.provisioner.inLab(step)) this.report.steps.push({name: step.name, status: 'skipped', durationMs: 0})
      return
    }
    const stepStarted = Date.now()
    try {
      await this.provisioner.runStep(step, onLine)
      this.report.steps.push({name: step.name, status: 'done', durationMs: Date.now() - stepStarted})
      this.report.changed = true
      this.report.chapters = this.provisioner.chapters()
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
  const stepNames = bundleFor(options).steps
  return [
    {
      title: 'Check sudo, read what is already provisioned, upload what is needed',
      task: async (ctx, task) => {
        if (!ctx.session) throw new Error('provisionTasks needs an SSH session in the context')
        run = new ProvisionRun(ctx.session, options)
        ctx.provision = run.report
        const pending = await run.prepare()
        task.title = pending === 0 ? 'Everything is already provisioned' : `${pending} of ${run.labSteps().length} steps to run`
      },
    },
    ...stepNames.map((step): ListrTask<Ctx> => ({
      title: `Step ${step.name}`,
      rendererOptions: liveTail,
      task: async (_ctx, task) => {
        if (!run) throw new Error('provisionTasks: the step tasks need the first task to have run')
        const willRun = run.willRun(step)
        await run.runStep(step, (line) => { task.output = line })
        if (!willRun) task.skip(run.skipReason(step))
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
