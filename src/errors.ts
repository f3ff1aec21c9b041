/**
 * One error hierarchy for the whole tool. Every error a user can meet carries a stable code, the exit code
 * documented in the README, and the next step to take. Commands never print stack traces for these.
 */

export const ExitCode = {
  ok: 0,
  checksFailed: 1,
  usage: 2,
  unreachable: 3,
  internal: 4,
} as const
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

export interface ErrorDetails {
  /** What to do next, in one or two sentences. */
  suggestion?: string
  /** Extra machine-readable facts for --json output. */
  data?: Record<string, unknown>
  cause?: unknown
}

export class ChaosLabError extends Error {
  readonly code: string
  readonly exitCode: ExitCodeValue
  readonly suggestion: string | undefined
  readonly data: Record<string, unknown> | undefined

  constructor(code: string, exitCode: ExitCodeValue, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : {cause: details.cause})
    this.name = new.target.name
    this.code = code
    this.exitCode = exitCode
    this.suggestion = details.suggestion
    this.data = details.data
  }

  /** The one-paragraph text a person reads. */
  describe(): string {
    return this.suggestion ? `${this.message}\n${this.suggestion}` : this.message
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      exitCode: this.exitCode,
      message: this.message,
      ...(this.suggestion ? {suggestion: this.suggestion} : {}),
      ...(this.data ? {data: this.data} : {}),
    }
  }
}

/** Bad flags, bad arguments, a refused interactive question (exit 2). */
export class UsageError extends ChaosLabError {
  constructor(message: string, details: ErrorDetails = {}, code = 'usage') {
    super(code, ExitCode.usage, message, details)
  }
}

/** chaos-lab.yaml, a lab definition or an inventory is wrong (exit 2). */
export class ConfigError extends ChaosLabError {
  constructor(message: string, details: ErrorDetails = {}, code = 'config_invalid') {
    super(code, ExitCode.usage, message, details)
  }
}

/** The lab machine could not be reached or driven: Vagrant missing, SSH refused, host key changed (exit 3). */
export class UnreachableError extends ChaosLabError {
  constructor(message: string, details: ErrorDetails = {}, code = 'unreachable') {
    super(code, ExitCode.unreachable, message, details)
  }
}

/** Checks ran and some did not pass: the learner has work to do (exit 1). */
export class ChecksFailedError extends ChaosLabError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('checks_failed', ExitCode.checksFailed, message, details)
  }
}

/** A bug in chaos-lab itself (exit 4). */
export class InternalError extends ChaosLabError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('internal', ExitCode.internal, message, details)
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
