import {spawn} from 'node:child_process'

import {commandTimeoutError, type ExecOptions, type ExecResult, type SshSession} from '../../src/ssh/session.js'
import {lineSplitter} from '../../src/ssh/lines.js'
import type {SshTarget} from '../../src/ssh/target.js'

/**
 * An SshSession whose "machine" is this one: each exec runs `bash -c COMMAND` locally, as sshd would run it
 * through the login shell. For tests of what chaos-lab sends to a shell (the command batcher's script) with a
 * real bash, where no VM is needed. Every exec is recorded; a timeout kills the command's process group.
 */
export class LocalBashSession implements Pick<SshSession, 'exec' | 'target'> {
  readonly commands: string[] = []
  readonly target: SshTarget = {host: '127.0.0.1', port: 22, user: 'local', identityFile: '/dev/null', name: 'local-bash'}

  /** `env`: variables added to the commands' environment (e.g. TMPDIR). */
  constructor(private readonly env: Record<string, string> = {}) {}

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    this.commands.push(command)
    return new Promise((resolve, reject) => {
      const child = spawn('bash', ['-c', command], {detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: {...process.env, ...this.env}})
      const out: Buffer[] = []
      const err: Buffer[] = []
      const lines = lineSplitter(options.onLine)
      child.stdout.on('data', (chunk: Buffer) => { out.push(chunk); lines.push(chunk, 'stdout') })
      child.stderr.on('data', (chunk: Buffer) => { err.push(chunk); lines.push(chunk, 'stderr') })
      const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL')
        } catch {
          // Already gone.
        }
        reject(commandTimeoutError(this.target.name, options.timeoutMs!))
      }, options.timeoutMs)
      child.on('error', reject)
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        lines.end()
        resolve({code, signal: signal?.replace(/^SIG/, '') ?? null, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString()})
      })
      // A command that exits without reading its input closes the pipe: not an error (sshd ignores it too).
      child.stdin.on('error', () => undefined)
      child.stdin.end(options.stdin ?? '')
    })
  }
}
