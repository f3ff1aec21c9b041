/**
 * A fake ProcessRunner for command and service tests: it answers each `run(command, args)` from rules you give
 * it and records every call, so a test can say what the host "has" and then assert what chaos-lab ran.
 *
 *     const runner = new FakeRunner()
 *       .on('vagrant', ['--version'], {stdout: 'Vagrant 2.4.1\n'})
 *       .on('vagrant', ['plugin', 'list'], {stdout: 'vagrant-libvirt (0.11.2, global)\n'})
 *       .on('virsh', /^-c \S+ version$/, {exitCode: 1, stderr: 'failed to connect to the hypervisor\n'})
 *       .missing('VBoxManage')                          // not on PATH: run() throws CommandNotFoundError
 *       .on('vagrant', ['up', '--provider', /^(virtualbox|libvirt)$/], (call) => ({stdout: `up in ${call.options.cwd ?? '.'}\n`}))
 *     setDepsForTesting({runner})
 *     ...
 *     expect(runner.argsOf('vagrant')).toContainEqual(['--version'])
 *
 * Matching: the command matches by exact name (or a RegExp); args match by
 *   - an array: same length, each element equal to the string or matched by the RegExp;
 *   - a RegExp: tested against the args joined with single spaces;
 *   - a function: a predicate over the args;
 *   - nothing: any args.
 * The LAST rule added that matches wins, so a shared setup can be overridden by a test's own rule.
 * A call that matches no rule throws (a test bug shows up at once) unless the runner was created with
 * `{unmatched: 'missing'}` (every unknown program is "not installed") or `{unmatched: 'ok'}` (exit 0, no output).
 * When the caller passes `onLine`, the answer's stdout and stderr are fed to it line by line, like the real runner.
 */
import {CommandNotFoundError, type ProcessRunner, type RunOptions, type RunResult} from '../../src/process/runner.js'

export type ArgsMatcher = readonly (string | RegExp)[] | RegExp | ((args: readonly string[]) => boolean)

export interface FakeCall {
  command: string
  args: string[]
  options: RunOptions
}

/** What a rule answers: a (partial) result, a function of the call, or an error to throw. */
export type FakeAnswer = Partial<RunResult> | ((call: FakeCall) => Partial<RunResult> | Promise<Partial<RunResult>>)

interface Rule {
  command: string | RegExp
  args: ArgsMatcher | undefined
  answer: FakeAnswer | {throws: Error}
}

export interface FakeRunnerOptions {
  /** What an unmatched call does: throw a test error (default), act as a missing program, or succeed quietly. */
  unmatched?: 'throw' | 'missing' | 'ok'
}

function matchesArgs(matcher: ArgsMatcher | undefined, args: readonly string[]): boolean {
  if (matcher === undefined) return true
  if (typeof matcher === 'function') return matcher(args)
  if (matcher instanceof RegExp) return matcher.test(args.join(' '))
  return matcher.length === args.length && matcher.every((m, i) => (typeof m === 'string' ? m === args[i] : m.test(args[i] ?? '')))
}

function emitLines(text: string, stream: 'stdout' | 'stderr', onLine: NonNullable<RunOptions['onLine']>): void {
  const lines = text.split(/\r?\n/)
  if (lines.at(-1) === '') lines.pop()
  for (const line of lines) onLine(line, stream)
}

export class FakeRunner implements ProcessRunner {
  /** Every call, in order. */
  readonly calls: FakeCall[] = []
  private readonly rules: Rule[] = []

  constructor(private readonly options: FakeRunnerOptions = {}) {}

  /** Answers calls of `command` whose args match. */
  on(command: string | RegExp, args: ArgsMatcher | undefined, answer: FakeAnswer): this {
    this.rules.push({command, args, answer})
    return this
  }

  /** Makes `command` not installed: run() throws CommandNotFoundError, as the real runner does on ENOENT. */
  missing(command: string): this {
    this.rules.push({command, args: undefined, answer: {throws: new CommandNotFoundError(command, `Install ${command} and make sure it is on PATH.`)}})
    return this
  }

  /** Makes matching calls throw `error` (e.g. an UnreachableError for a timeout). */
  throws(command: string | RegExp, args: ArgsMatcher | undefined, error: Error): this {
    this.rules.push({command, args, answer: {throws: error}})
    return this
  }

  /** The args of every call to `command`, in order. */
  argsOf(command: string): string[][] {
    return this.calls.filter((call) => call.command === command).map((call) => call.args)
  }

  /** True when some call ran `command` with args that match. */
  ran(command: string, args?: ArgsMatcher): boolean {
    return this.calls.some((call) => call.command === command && matchesArgs(args, call.args))
  }

  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const call: FakeCall = {command, args: [...args], options}
    this.calls.push(call)
    const rule = this.rules.findLast((r) => (typeof r.command === 'string' ? r.command === command : r.command.test(command)) && matchesArgs(r.args, args))
    if (!rule) {
      const unmatched = this.options.unmatched ?? 'throw'
      if (unmatched === 'missing') throw new CommandNotFoundError(command, `Install ${command} and make sure it is on PATH.`)
      if (unmatched === 'ok') return {exitCode: 0, stdout: '', stderr: ''}
      throw new Error(`FakeRunner: no rule answers \`${[command, ...args].join(' ')}\`; add one with .on(${JSON.stringify(command)}, …).`)
    }
    if ('throws' in rule.answer) throw rule.answer.throws
    const partial = typeof rule.answer === 'function' ? await rule.answer(call) : rule.answer
    const result: RunResult = {exitCode: partial.exitCode ?? 0, signal: partial.signal, stdout: partial.stdout ?? '', stderr: partial.stderr ?? ''}
    if (options.onLine) {
      emitLines(result.stdout, 'stdout', options.onLine)
      emitLines(result.stderr, 'stderr', options.onLine)
    }
    return result
  }
}
