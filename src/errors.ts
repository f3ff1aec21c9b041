/**
 * One error hierarchy for the whole tool. Every error a user can meet carries a stable code, the exit code
 * documented in the README, and the next step to take. Commands never print stack traces for these.
 */

export const ExitCode = {
  ok: 0,
  checksFailed: 1,
  usage: 2,
  /** The lab machine could not be reached or driven (the classes below say what went wrong). */
  machine: 3,
  internal: 4,
} as const
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

export interface ErrorDetails {
  /** What to do next, in one or two sentences. */
  suggestion?: string
  /** Extra machine-readable facts for --json output. */
  data?: Record<string, unknown>
  cause?: unknown
  /** The last lines a tool (Vagrant, a provisioning step) printed before it failed. */
  output?: string[]
  /** True when those lines went to a progress view as they were printed (a live tail, --verbose). */
  outputStreamed?: boolean
}

export class ChaosLabError extends Error {
  readonly code: string
  readonly exitCode: ExitCodeValue
  readonly suggestion: string | undefined
  readonly data: Record<string, unknown> | undefined
  readonly output: string[]
  readonly outputStreamed: boolean
  /**
   * Set by the progress view when it printed `output` for good as it came (the verbose renderer): the final
   * error then leaves those lines out, so they appear once. A live tail in a terminal is erased, and --json shows
   * nothing, so there the final error carries them.
   */
  outputShown = false

  /** `message` is the headline: what listr shows on the failed task. The tool's lines are in `output`. */
  constructor(code: string, exitCode: ExitCodeValue, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : {cause: details.cause})
    this.name = new.target.name
    this.code = code
    this.exitCode = exitCode
    this.suggestion = details.suggestion
    this.data = details.data
    this.output = details.output ?? []
    this.outputStreamed = details.outputStreamed ?? false
  }

  /** The headline and the tool's last lines. */
  fullMessage(): string {
    return this.output.length > 0 ? `${this.message}\nIts last lines:\n${this.output.join('\n')}` : this.message
  }

  /** The one-paragraph text a person reads (the tool's lines only when they are not on screen already). */
  describe(): string {
    const text = this.outputShown && this.output.length > 0 ? `${this.message} (Its output is above.)` : this.fullMessage()
    return this.suggestion ? `${text}\n${this.suggestion}` : text
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      exitCode: this.exitCode,
      message: this.fullMessage(),
      ...(this.suggestion ? {suggestion: this.suggestion} : {}),
      ...(this.data ? {data: this.data} : {}),
    }
  }
}

/** The base class of one kind of error: its exit code, and the code its errors carry unless they name their own. */
function errorKind(defaultCode: string, exitCode: ExitCodeValue) {
  return class extends ChaosLabError {
    constructor(message: string, details: ErrorDetails = {}, code = defaultCode) {
      super(code, exitCode, message, details)
    }
  }
}

/** Bad flags, bad arguments, a refused interactive question (exit 2). */
export class UsageError extends errorKind('usage', ExitCode.usage) {}

/** chaos-lab.yaml, a lab definition or an inventory is wrong (exit 2). */
export class ConfigError extends errorKind('config_invalid', ExitCode.usage) {}

/** The lab machine could not be reached: no SSH connection, the connection was lost, its host key changed (exit 3). */
export class UnreachableError extends errorKind('unreachable', ExitCode.machine) {}

/**
 * The machine was reached, but something chaos-lab ran on it failed: a provisioning step, a lesson's reset, a
 * file transfer, a missing sudo (exit 3).
 */
export class MachineStepError extends errorKind('step_failed', ExitCode.machine) {}

/** A program on this computer that drives the machine (Vagrant, its provider, OpenSSH) is missing or failed (exit 3). */
export class ToolError extends errorKind('tool_failed', ExitCode.machine) {}

/** A file could not be written on this computer (a backup archive); nothing on the machine was changed (exit 3). */
export class LocalWriteError extends errorKind('local_write_failed', ExitCode.machine) {}

/** A bug in chaos-lab itself (exit 4). */
export class InternalError extends errorKind('internal', ExitCode.internal) {}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
