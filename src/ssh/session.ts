import {readFileSync} from 'node:fs'
import ssh2 from 'ssh2'
import type {ClientChannel, ConnectConfig} from 'ssh2'

import {ChaosLabError, MachineStepError, UnreachableError, UsageError, errorMessage} from '../errors.js'
import {HostKeyChangedError, KnownHosts} from './known-hosts.js'
import {lineSplitter} from './lines.js'
import type {SshTarget} from './target.js'
import {Limiter} from '../util/limiter.js'

export interface ExecResult {
  /** Exit status, or null when the command died of a signal. */
  code: number | null
  /** Signal name without the SIG prefix (e.g. "KILL"), when the command died of one. */
  signal: string | null
  stdout: string
  stderr: string
}

export interface ExecOptions {
  /** Written to the command's standard input, then closed. */
  stdin?: string | Buffer
  timeoutMs?: number
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void
}

/** One SSH connection to a lab machine. Commands and uploads share it; channels are capped per connection. */
export interface SshSession {
  readonly target: SshTarget
  exec(command: string, options?: ExecOptions): Promise<ExecResult>
  /** Writes a file through SFTP (as the login user), creating nothing but the file itself. */
  upload(contents: string | Buffer, remotePath: string, mode?: number): Promise<void>
  /** Reads a whole file through SFTP (as the login user). */
  download(remotePath: string): Promise<Buffer>
  close(): Promise<void>
}

export interface ConnectOptions {
  knownHosts: KnownHosts
  readyTimeoutMs?: number
  /** OpenSSH allows 10 sessions per connection (MaxSessions); stay below it. */
  maxChannels?: number
}

export type SshConnector = (target: SshTarget, options: ConnectOptions) => Promise<SshSession>

/** OpenSSH's default MaxSessions is 10; two are kept free for SFTP and the user's own `ssh`. */
export const DEFAULT_MAX_CHANNELS = 8

export class ConnectionLostError extends UnreachableError {
  constructor(target: SshTarget, detail: string) {
    super(`The SSH connection to ${target.name} was lost: ${detail}.`, {
      suggestion: 'Check that the machine is running (chaos-lab status), then run the same command again: it picks up where it stopped.',
    }, 'connection_lost')
  }
}

/** A command did not end within its time limit (the channel is closed; the machine may still be running it). */
export function commandTimeoutError(machine: string, timeoutMs: number): UnreachableError {
  return new UnreachableError(`A command on ${machine} did not finish within ${Math.round(timeoutMs / 1000)} s.`, {
    suggestion: 'The machine may be overloaded or stuck; check it with `chaos-lab ssh` and try again.',
  }, 'command_timeout')
}

function readKey(target: SshTarget): Buffer {
  try {
    return readFileSync(target.identityFile)
  } catch (error) {
    throw new UsageError(`Cannot read the SSH key ${target.identityFile}: ${errorMessage(error)}.`, {
      suggestion: 'Pass the private key that logs in to the machine with --identity (or ansible_ssh_private_key_file in an inventory).',
    }, 'identity_unreadable')
  }
}

function explainConnectError(target: SshTarget, error: Error & {code?: string; level?: string}): ChaosLabError {
  const where = `${target.user}@${target.host}:${target.port}`
  if (error.level === 'client-authentication') {
    return new UnreachableError(`${where} refused the key ${target.identityFile} (authentication failed).`, {
      suggestion: 'Check the user name and that the key is in that user\'s ~/.ssh/authorized_keys on the machine.',
    }, 'auth_failed')
  }
  if (error.code === 'ECONNREFUSED') {
    return new UnreachableError(`Nothing accepts SSH connections at ${target.host}:${target.port} (connection refused).`, {
      suggestion: 'Is the machine running and sshd started? For a Vagrant lab run `chaos-lab status`, then `chaos-lab up`.',
    }, 'connection_refused')
  }
  if (error.level === 'client-timeout' || error.code === 'ETIMEDOUT') {
    return new UnreachableError(`${target.host}:${target.port} did not answer the SSH handshake in time.`, {
      suggestion: 'Check the address and port, and that no firewall is in the way; a VM that is still booting needs a minute more.',
    }, 'connection_timeout')
  }
  if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') {
    return new UnreachableError(`The host name ${target.host} does not resolve.`, {
      suggestion: 'Check the spelling, or use the machine\'s IP address.',
    }, 'host_not_found')
  }
  return new UnreachableError(`Could not connect to ${where}: ${error.message}.`, {
    suggestion: 'Check that the machine is running and reachable over SSH, then try again.',
  }, 'connect_failed')
}

class Ssh2Session implements SshSession {
  private closed = false
  private lostReason: string | undefined
  private readonly channels: Limiter

  constructor(readonly target: SshTarget, private readonly client: ssh2.Client, maxChannels: number) {
    this.channels = new Limiter(maxChannels)
    client.on('close', () => {
      if (!this.closed) this.lostReason ??= 'the connection closed'
      this.closed = true
    })
    client.on('error', (error: Error) => {
      this.lostReason ??= error.message
    })
  }

  private assertOpen(): void {
    if (this.closed) throw new ConnectionLostError(this.target, this.lostReason ?? 'the connection closed')
  }

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    return this.channels.run(() => this.execNow(command, options))
  }

  private execNow(command: string, options: ExecOptions): Promise<ExecResult> {
    this.assertOpen()
    return new Promise<ExecResult>((resolve, reject) => {
      this.client.exec(command, (error: Error | undefined, channel: ClientChannel) => {
        if (error) {
          reject(this.closed ? new ConnectionLostError(this.target, error.message) : new UnreachableError(`Could not open an SSH channel on ${this.target.name}: ${error.message}.`))
          return
        }
        const stdout: Buffer[] = []
        const stderr: Buffer[] = []
        let code: number | null = null
        let signal: string | null = null
        let sawExit = false
        let timer: NodeJS.Timeout | undefined
        const lines = lineSplitter(options.onLine)
        channel.on('data', (chunk: Buffer) => { stdout.push(chunk); lines.push(chunk, 'stdout') })
        channel.stderr.on('data', (chunk: Buffer) => { stderr.push(chunk); lines.push(chunk, 'stderr') })
        channel.on('exit', (exitCode: number | null, exitSignal?: string) => {
          sawExit = true
          code = exitCode ?? null
          signal = exitSignal ? exitSignal.replace(/^SIG/, '') : null
        })
        channel.on('close', (closeCode?: number | null, closeSignal?: string) => {
          if (timer) clearTimeout(timer)
          if (!sawExit && closeCode !== undefined && closeCode !== null) { sawExit = true; code = closeCode }
          if (!sawExit && closeSignal) { sawExit = true; signal = closeSignal.replace(/^SIG/, '') }
          lines.end()
          if (!sawExit) {
            // Neither an exit status nor a signal: the command's fate is unknown, which is a failure.
            reject(this.closed || this.lostReason
              ? new ConnectionLostError(this.target, this.lostReason ?? 'the channel closed without an exit status')
              : new ConnectionLostError(this.target, 'the command ended without an exit status'))
            return
          }
          resolve({code, signal, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString()})
        })
        const {timeoutMs} = options
        if (timeoutMs) {
          timer = setTimeout(() => {
            reject(commandTimeoutError(this.target.name, timeoutMs))
            channel.close()
          }, timeoutMs)
        }
        if (options.stdin !== undefined) channel.end(options.stdin)
        else channel.end()
      })
    })
  }

  upload(contents: string | Buffer, remotePath: string, mode = 0o644): Promise<void> {
    this.assertOpen()
    return this.channels.run(() => new Promise<void>((resolve, reject) => {
      this.client.sftp((error, sftp) => {
        if (error) { reject(new MachineStepError(`SFTP is not available on ${this.target.name}: ${error.message}.`, {suggestion: 'Make sure sshd on the machine has the sftp subsystem enabled.'}, 'sftp_unavailable')); return }
        sftp.writeFile(remotePath, contents, {mode}, (writeError) => {
          const finish = () => {
            sftp.end()
            if (writeError) reject(new MachineStepError(`Could not write ${remotePath} on ${this.target.name}: ${writeError.message}.`, {}, 'upload_failed'))
            else resolve()
          }
          if (writeError) { finish(); return }
          // writeFile keeps an existing file's mode; set it explicitly.
          sftp.chmod(remotePath, mode, () => { finish() })
        })
      })
    }))
  }

  download(remotePath: string): Promise<Buffer> {
    this.assertOpen()
    return this.channels.run(() => new Promise<Buffer>((resolve, reject) => {
      this.client.sftp((error, sftp) => {
        if (error) { reject(new MachineStepError(`SFTP is not available on ${this.target.name}: ${error.message}.`, {suggestion: 'Make sure sshd on the machine has the sftp subsystem enabled.'}, 'sftp_unavailable')); return }
        sftp.readFile(remotePath, (readError, data) => {
          sftp.end()
          if (readError) reject(new MachineStepError(`Could not read ${remotePath} on ${this.target.name}: ${readError.message}.`, {}, 'download_failed'))
          else resolve(data)
        })
      })
    }))
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      this.closed = true
      this.client.once('close', () => { resolve() })
      this.client.end()
      setTimeout(resolve, 2000).unref()
    })
  }
}

export const connectSsh: SshConnector = (target, options) => {
  const privateKey = readKey(target)
  return new Promise<SshSession>((resolve, reject) => {
    const client = new ssh2.Client()
    let hostKeyError: HostKeyChangedError | undefined
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey,
      readyTimeout: options.readyTimeoutMs ?? 20_000,
      keepaliveInterval: 5_000,
      keepaliveCountMax: 6,
      hostVerifier: (key: Buffer) => {
        try {
          return options.knownHosts.verify(target.host, target.port, key)
        } catch (error) {
          if (error instanceof HostKeyChangedError) hostKeyError = error
          return false
        }
      },
    }
    client.once('ready', () => {
      client.removeAllListeners('error')
      resolve(new Ssh2Session(target, client, options.maxChannels ?? DEFAULT_MAX_CHANNELS))
    })
    client.once('error', (error: Error & {code?: string; level?: string}) => {
      client.end()
      reject(hostKeyError ?? explainConnectError(target, error))
    })
    try {
      client.connect(config)
    } catch (error) {
      // ssh2 throws synchronously on a key it cannot parse.
      reject(new UsageError(`The SSH key ${target.identityFile} cannot be used: ${errorMessage(error)}.`, {
        suggestion: 'Pass an unencrypted OpenSSH or PEM private key with --identity.',
      }, 'identity_unusable'))
    }
  })
}
