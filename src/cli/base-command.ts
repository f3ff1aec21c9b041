import {Command, Flags, Interfaces} from '@oclif/core'

import {ChaosLabError, ExitCode, InternalError, UsageError} from '../errors.js'
import {deps, type Deps} from '../deps.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/**
 * Every chaos-lab command: --json, --dir, and one error path that turns any failure into a one-paragraph
 * message (or a JSON error object) and the documented exit code — never a stack trace.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true
  static override baseFlags = {
    dir: Flags.string({
      char: 'd',
      description: 'Lab folder: the folder holding chaos-lab.yaml and the Vagrantfile.',
      default: '.',
      helpGroup: 'GLOBAL',
    }),
  }

  protected flags!: BaseFlags<T>
  protected args!: BaseArgs<T>

  protected deps(): Deps {
    return deps()
  }

  public override async init(): Promise<void> {
    await super.init()
    const {args, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as BaseArgs<T>
  }

  /** Asks before destroying something; refuses in a non-interactive run unless the override flag is given. */
  protected async confirmOrRefuse(question: string, overridden: boolean, overrideFlag: string): Promise<void> {
    if (overridden) return
    const {isInteractive, confirm} = this.deps()
    if (!isInteractive() || this.jsonEnabled()) {
      throw new UsageError(`${question} — refusing to go on without an answer, because no one can be asked here.`, {
        suggestion: `Pass ${overrideFlag} to confirm in scripts.`,
      }, 'confirmation_required')
    }
    if (!(await confirm(question))) {
      throw new UsageError('Cancelled: nothing was changed.', {}, 'cancelled')
    }
  }

  /** Maps every error to its exit code and prints it once, as text or as JSON. */
  protected override catch(error: Error & {oclif?: {exit?: number}; exitCode?: number; code?: string}): Promise<void> {
    const known = toChaosLabError(error)
    process.exitCode = known.exitCode
    if (this.jsonEnabled()) {
      this.logJson({error: known.toJSON()})
    } else {
      process.stderr.write(`${known.exitCode === ExitCode.internal ? 'chaos-lab hit a bug: ' : 'Error: '}${known.describe()}\n`)
    }
    return Promise.resolve()
  }
}

function toChaosLabError(error: Error & {oclif?: {exit?: number}; code?: string}): ChaosLabError {
  if (error instanceof ChaosLabError) return error
  // oclif's own errors (unknown flag, missing argument, this.exit) carry their exit code in `oclif.exit`.
  const oclifExit = error.oclif?.exit
  if (oclifExit !== undefined) {
    if (oclifExit === 0) return new ChaosLabError('ok', ExitCode.ok, error.message)
    const message = error.message.replace(/\n\s*See more help with --help$/, '')
    return new UsageError(message, {suggestion: 'See the command\'s --help for its flags and examples.'}, 'bad_usage')
  }
  return new InternalError(error.message, {
    suggestion: 'Please report this with the command you ran; run with DEBUG=chaos-lab for details.',
    data: process.env.DEBUG ? {stack: error.stack} : undefined,
  })
}
