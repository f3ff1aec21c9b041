import {appendFileSync, mkdirSync} from 'node:fs'
import {dirname} from 'node:path'

import {chapterOfStep} from '../config/chapters.js'
import {LEARNER} from '../config/learner.js'
import {MachineStepError} from '../errors.js'
import type {SshSession} from '../ssh/session.js'
import {envAssignments, shellQuote} from '../util/shell.js'
import {bundleTar, REMOTE_BUNDLE, REMOTE_ROOT, REMOTE_STATE, type Bundle, type ProvisioningStep} from './bundle.js'

/** A step that runs longer than this is stuck (apt under TCG takes minutes, not half an hour). */
const STEP_TIMEOUT_MS = 30 * 60_000

export interface ProvisionState {
  version: 1
  bundle?: string
  /** The book's chapters this machine's lab has (asked for so far), finished or not. */
  chapters?: number[]
  steps: Record<string, {hash: string; finishedAt: string}>
}

export type StepStatus = 'done' | 'skipped' | 'failed'

export interface StepOutcome {
  name: string
  status: StepStatus
  durationMs: number
}

export class NoSudoError extends MachineStepError {
  constructor(user: string, where: string) {
    super(`${user} on ${where} cannot run sudo without a password, and provisioning needs root.`, {
      suggestion: `Log in with a user that has passwordless sudo, or add one on the machine: echo '${user} ALL=(ALL) NOPASSWD:ALL' | sudo tee /etc/sudoers.d/${user}`,
    }, 'no_sudo')
  }
}

export class StepFailedError extends MachineStepError {
  constructor(step: string, exitCode: number | null, signal: string | null, lastLines: string[], logFile: string | undefined) {
    const how = signal ? `was killed by SIG${signal}` : `exited with ${exitCode}`
    super(`Provisioning step "${step}" failed: it ${how}.`, {
      suggestion: `${logFile ? `The full log is in ${logFile}. ` : ''}Fix the cause (often the network or disk space in the VM), then run the same command again: finished steps are skipped.`,
      data: {step, exitCode, signal, logFile},
      // Every line of a step goes to the progress view as it comes (Provisioner.runStep's onLine).
      output: lastLines,
      outputStreamed: true,
    }, 'step_failed')
  }
}

/** Writes every line of a run to a log file on the host, prefixed with its step. */
export class ProvisionLog {
  constructor(readonly file: string | undefined) {
    if (file) mkdirSync(dirname(file), {recursive: true})
  }

  write(step: string, line: string): void {
    if (!this.file) return
    // Step scripts prefix their own lines with [step]; other output (a stray error) gets the prefix here.
    appendFileSync(this.file, line.startsWith(`[${step}]`) ? `${line}\n` : `[${step}] ${line}\n`)
  }
}

/**
 * Provisions one machine over one SSH session: uploads the bundle, runs each step whose inputs changed since
 * its stamp in the VM's state file, stamps it when it succeeds. A run cut off anywhere converges on the next.
 */
export class Provisioner {
  private state: ProvisionState = {version: 1, steps: {}}
  private selected = new Set<number>()

  constructor(
    private readonly session: SshSession,
    readonly bundle: Bundle,
    /**
     * chapters: the book's chapters asked for; those the machine has stay up to date too. Undefined: the machine's
     * own chapters, or every chapter of the bundle on a machine provisioned with none.
     */
    private readonly options: {profile: string; force: boolean; log: ProvisionLog; chapters?: readonly number[] | undefined},
  ) {}

  /** Checks sudo and reads the stamps. Returns the steps that will run. */
  async prepare(): Promise<ProvisioningStep[]> {
    const sudo = await this.session.exec('sudo -n true')
    if (sudo.code !== 0) throw new NoSudoError(this.session.target.user, this.session.target.name)
    const read = await this.session.exec(`sudo -n cat ${REMOTE_STATE} 2>/dev/null || true`)
    this.state = parseState(read.stdout)
    // Nothing asked: the chapters the machine has, or every chapter on a machine that has none yet (the book's VM).
    // A chapter asked for once stays the lab's, also when the run that added it was cut off before its step.
    const had = [...(this.state.chapters ?? []), ...stampedChapters(this.state)]
    const asked = this.options.chapters ?? (had.length > 0 ? [] : this.bundle.steps.flatMap((step) => (step.chapter === undefined ? [] : [step.chapter])))
    this.selected = new Set([...asked, ...had])
    this.state.chapters = [...this.selected].sort((a, b) => a - b)
    return this.pendingSteps()
  }

  /** A step of this lab: every step that is no chapter's, and the steps of the chapters asked for or already there. */
  inLab(step: ProvisioningStep): boolean {
    return step.chapter === undefined || this.selected.has(step.chapter)
  }

  /** The chapters this machine has (stamped), after what ran so far. */
  chapters(): number[] {
    return stampedChapters(this.state)
  }

  pendingSteps(): ProvisioningStep[] {
    return this.bundle.steps.filter((step) => this.inLab(step) && (this.options.force || this.state.steps[step.name]?.hash !== step.hash))
  }

  /** Uploads the bundle (one tar through SFTP, unpacked by root) unless the VM already has this very bundle. */
  async upload(): Promise<boolean> {
    if (!this.options.force && this.state.bundle === this.bundle.hash) return false
    const tarPath = `/tmp/chaos-lab-bundle-${this.bundle.hash}.tar`
    await this.session.upload(bundleTar(this.bundle), tarPath, 0o600)
    const next = `${REMOTE_BUNDLE}.new`
    const script = [
      `mkdir -p ${REMOTE_ROOT}`,
      `rm -rf ${next}`,
      `mkdir -m 0755 ${next}`,
      `tar -xf ${tarPath} -C ${next} --no-same-owner`,
      `rm -rf ${REMOTE_BUNDLE}`,
      `mv ${next} ${REMOTE_BUNDLE}`,
      `rm -f ${tarPath}`,
    ].join(' && ')
    const result = await this.session.exec(`sudo -n sh -c ${shellQuote(script)}`)
    if (result.code !== 0) {
      throw new MachineStepError(`Could not unpack the provisioning files on ${this.session.target.name}: ${result.stderr.trim() || `exit ${result.code}`}.`, {
        suggestion: 'Check the free disk space in the VM (df -h /var/lib), then run the command again.',
      }, 'upload_failed')
    }
    this.state.bundle = this.bundle.hash
    // Stamps of steps whose inputs changed stay until those steps rerun; the bundle stamp is written now.
    await this.saveState()
    return true
  }

  async runStep(step: ProvisioningStep, onLine: (line: string) => void): Promise<void> {
    const tail: string[] = []
    const env = envAssignments({
      ...this.bundle.settings,
      CHAOS_LAB_PROFILE: this.options.profile,
      CHAOS_LAB_USER: LEARNER,
      CHAOS_LAB_LOGIN_USER: this.session.target.user,
      DEBIAN_FRONTEND: 'noninteractive',
    })
    this.options.log.write(step.name, `--- start ${new Date().toISOString()}`)
    // Unstamp first: a run cut off inside this step must redo it next time, even when its inputs are unchanged.
    if (this.state.steps[step.name]) {
      this.state.steps = Object.fromEntries(Object.entries(this.state.steps).filter(([name]) => name !== step.name))
      await this.saveState()
    }
    // One step at a time per machine: a step left running by a run that was cut off finishes first.
    const result = await this.session.exec(`sudo -n env ${env} flock -w 1800 ${REMOTE_ROOT}/step.lock bash ${REMOTE_BUNDLE}/${step.script}`, {
      timeoutMs: STEP_TIMEOUT_MS,
      onLine: (line) => {
        this.options.log.write(step.name, line)
        tail.push(line)
        if (tail.length > 15) tail.shift()
        onLine(line)
      },
    })
    if (result.code !== 0) throw new StepFailedError(step.name, result.code, result.signal, tail, this.options.log.file)
    this.state.steps[step.name] = {hash: step.hash, finishedAt: new Date().toISOString()}
    await this.saveState()
  }

  private async saveState(): Promise<void> {
    const write = `umask 022; mkdir -p ${REMOTE_ROOT} && cat > ${REMOTE_STATE}.tmp && mv ${REMOTE_STATE}.tmp ${REMOTE_STATE}`
    const result = await this.session.exec(`sudo -n sh -c ${shellQuote(write)}`, {stdin: `${JSON.stringify(this.state, null, 2)}\n`})
    if (result.code !== 0) throw new MachineStepError(`Could not record provisioning progress in ${REMOTE_STATE}: ${result.stderr.trim()}.`, {}, 'state_write_failed')
  }
}

/** The chapters whose step is stamped done in a state file, in order. */
export function stampedChapters(state: ProvisionState): number[] {
  return Object.keys(state.steps).map(chapterOfStep).filter((chapter) => chapter !== undefined).sort((a, b) => a - b)
}

/**
 * The chapters a machine was provisioned with, from its state file (readable by every user), or undefined when
 * it has no stamps at all (never provisioned by chaos-lab, or by a plain `vagrant up`'s run-all.sh, which
 * stamps nothing): then nobody knows.
 */
export async function provisionedChapters(session: SshSession): Promise<number[] | undefined> {
  const read = await session.exec(`cat ${REMOTE_STATE} 2>/dev/null || sudo -n cat ${REMOTE_STATE} 2>/dev/null || true`)
  const state = parseState(read.stdout)
  return Object.keys(state.steps).length === 0 ? undefined : stampedChapters(state)
}

export function parseState(text: string): ProvisionState {
  try {
    const parsed = JSON.parse(text) as Partial<ProvisionState>
    if (parsed && parsed.version === 1 && typeof parsed.steps === 'object' && parsed.steps) {
      const chapters = Array.isArray(parsed.chapters) ? parsed.chapters.filter((n) => Number.isInteger(n)) : undefined
      return {version: 1, bundle: parsed.bundle, ...(chapters ? {chapters} : {}), steps: parsed.steps}
    }
  } catch {
    // A missing or damaged state file means: nothing is known to be done.
  }
  return {version: 1, steps: {}}
}
