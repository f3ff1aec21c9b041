import {appendFileSync, mkdirSync} from 'node:fs'
import {dirname} from 'node:path'

import {UnreachableError} from '../errors.js'
import type {SshSession} from '../ssh/session.js'
import {envAssignments, shellQuote} from '../util/shell.js'
import {bundleTar, REMOTE_BUNDLE, REMOTE_ROOT, REMOTE_STATE, type Bundle, type ProvisioningStep} from './bundle.js'

export const LEARNER_USER = 'chaos'
/** A step that runs longer than this is stuck (apt under TCG takes minutes, not half an hour). */
const STEP_TIMEOUT_MS = 30 * 60_000

export interface ProvisionState {
  version: 1
  bundle?: string
  steps: Record<string, {hash: string; finishedAt: string}>
}

export type StepStatus = 'done' | 'skipped' | 'failed'

export interface StepOutcome {
  name: string
  status: StepStatus
  durationMs: number
}

export class NoSudoError extends UnreachableError {
  constructor(user: string, where: string) {
    super(`${user} on ${where} cannot run sudo without a password, and provisioning needs root.`, {
      suggestion: `Log in with a user that has passwordless sudo, or add one on the machine: echo '${user} ALL=(ALL) NOPASSWD:ALL' | sudo tee /etc/sudoers.d/${user}`,
    }, 'no_sudo')
  }
}

export class StepFailedError extends UnreachableError {
  constructor(step: string, exitCode: number | null, signal: string | null, lastLines: string[], logFile: string | undefined) {
    const how = signal ? `was killed by SIG${signal}` : `exited with ${exitCode}`
    super(`Provisioning step "${step}" failed: it ${how}.${lastLines.length ? `\nIts last lines:\n${lastLines.join('\n')}` : ''}`, {
      suggestion: `${logFile ? `The full log is in ${logFile}. ` : ''}Fix the cause (often the network or disk space in the VM), then run the same command again: finished steps are skipped.`,
      data: {step, exitCode, signal, logFile},
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

  constructor(
    private readonly session: SshSession,
    readonly bundle: Bundle,
    private readonly options: {profile: string; force: boolean; log: ProvisionLog},
  ) {}

  /** Checks sudo and reads the stamps. Returns the steps that will run. */
  async prepare(): Promise<ProvisioningStep[]> {
    const sudo = await this.session.exec('sudo -n true')
    if (sudo.code !== 0) throw new NoSudoError(this.session.target.user, this.session.target.name)
    const read = await this.session.exec(`sudo -n cat ${REMOTE_STATE} 2>/dev/null || true`)
    this.state = parseState(read.stdout)
    return this.pendingSteps()
  }

  pendingSteps(): ProvisioningStep[] {
    return this.bundle.steps.filter((step) => this.options.force || this.state.steps[step.name]?.hash !== step.hash)
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
      throw new UnreachableError(`Could not unpack the provisioning files on ${this.session.target.name}: ${result.stderr.trim() || `exit ${result.code}`}.`, {
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
      CHAOS_LAB_PROFILE: this.options.profile,
      CHAOS_LAB_USER: LEARNER_USER,
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
    if (result.code !== 0) throw new UnreachableError(`Could not record provisioning progress in ${REMOTE_STATE}: ${result.stderr.trim()}.`, {}, 'state_write_failed')
  }
}

export function parseState(text: string): ProvisionState {
  try {
    const parsed = JSON.parse(text) as Partial<ProvisionState>
    if (parsed && parsed.version === 1 && typeof parsed.steps === 'object' && parsed.steps) return {version: 1, bundle: parsed.bundle, steps: parsed.steps}
  } catch {
    // A missing or damaged state file means: nothing is known to be done.
  }
  return {version: 1, steps: {}}
}
