import type {ExecOptions, ExecResult, SshSession} from '../../src/ssh/session.js'
import type {SshTarget} from '../../src/ssh/target.js'

export type FakeReply = Partial<ExecResult> | ((command: string, options: ExecOptions) => Partial<ExecResult> | Promise<Partial<ExecResult>>)

/**
 * An in-memory SshSession for unit tests: replies come from the first rule whose pattern matches the
 * command; every command and upload is recorded. Unmatched commands answer exit 0 with no output.
 */
export class FakeSession implements SshSession {
  readonly commands: string[] = []
  readonly uploads: {path: string; contents: Buffer; mode: number}[] = []
  readonly stdins: (string | Buffer | undefined)[] = []
  closed = false

  constructor(
    private readonly rules: [RegExp, FakeReply][] = [],
    readonly target: SshTarget = {host: '127.0.0.1', port: 2222, user: 'admin', identityFile: '/k', name: 'fake'},
  ) {}

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    this.commands.push(command)
    this.stdins.push(options.stdin)
    const rule = this.rules.find(([pattern]) => pattern.test(command))
    const reply = rule ? (typeof rule[1] === 'function' ? await rule[1](command, options) : rule[1]) : {}
    const result: ExecResult = {code: 0, signal: null, stdout: '', stderr: '', ...reply}
    for (const line of result.stdout.split('\n').filter(Boolean)) options.onLine?.(line, 'stdout')
    return result
  }

  upload(contents: string | Buffer, path: string, mode = 0o644): Promise<void> {
    this.uploads.push({path, contents: Buffer.from(contents), mode})
    return Promise.resolve()
  }

  /** Files the fake VM serves to download(); a missing one rejects like SFTP does. */
  readonly files = new Map<string, Buffer>()

  download(path: string): Promise<Buffer> {
    const file = this.files.get(path)
    if (!file) return Promise.reject(new Error(`No such file: ${path}`))
    return Promise.resolve(file)
  }

  close(): Promise<void> {
    this.closed = true
    return Promise.resolve()
  }
}
