import {execa} from 'execa'

import {ToolError} from '../errors.js'

export interface RunOptions {
  cwd?: string
  env?: Record<string, string | undefined>
  /** Called for every line the process prints, as it prints it (progress tails, --verbose). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void
  /** Hand the terminal to the process (interactive `vagrant ssh`). Output is then not captured. */
  interactive?: boolean
  timeoutMs?: number
  signal?: AbortSignal
}

export interface RunResult {
  exitCode: number
  signal?: string | undefined
  stdout: string
  stderr: string
}

/** The one seam through which chaos-lab starts host programs (vagrant, VBoxManage, virsh…). Tests swap it. */
export interface ProcessRunner {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult>
}

export class CommandNotFoundError extends ToolError {
  constructor(command: string, suggestion: string) {
    super(`\`${command}\` was not found on this machine's PATH.`, {suggestion, data: {command}}, 'command_not_found')
  }
}

function splitLines(onLine: NonNullable<RunOptions['onLine']>, stream: 'stdout' | 'stderr') {
  let pending = ''
  return {
    push(chunk: Buffer | string) {
      pending += chunk.toString()
      const lines = pending.split(/\r?\n|\r/)
      pending = lines.pop() ?? ''
      for (const line of lines) onLine(line, stream)
    },
    flush() {
      if (pending) onLine(pending, stream)
      pending = ''
    },
  }
}

export class ExecaRunner implements ProcessRunner {
  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const subprocess = execa(command, args, {
      cwd: options.cwd,
      env: options.env,
      extendEnv: true,
      reject: false,
      stdin: options.interactive ? 'inherit' : 'ignore',
      stdout: options.interactive ? 'inherit' : 'pipe',
      stderr: options.interactive ? 'inherit' : 'pipe',
      timeout: options.timeoutMs,
      cancelSignal: options.signal,
      forceKillAfterDelay: 5000,
      stripFinalNewline: false,
    })
    const splitters = options.onLine
      ? {stdout: splitLines(options.onLine, 'stdout'), stderr: splitLines(options.onLine, 'stderr')}
      : undefined
    if (splitters) {
      subprocess.stdout?.on('data', (chunk: Buffer) => { splitters.stdout.push(chunk) })
      subprocess.stderr?.on('data', (chunk: Buffer) => { splitters.stderr.push(chunk) })
    }
    const result = await subprocess
    splitters?.stdout.flush()
    splitters?.stderr.flush()
    if (result.failed && result.exitCode === undefined && !result.signal && !result.isCanceled && !result.timedOut) {
      const code = (result.cause as NodeJS.ErrnoException | undefined)?.code
      if (code === 'ENOENT') throw new CommandNotFoundError(command, `Install ${command} and make sure it is on PATH.`)
      throw new ToolError(`Could not start \`${command}\`: ${result.shortMessage}`)
    }
    return {
      exitCode: result.exitCode ?? (result.signal ? 128 : 1),
      signal: result.signal,
      stdout: typeof result.stdout === 'string' ? result.stdout : '',
      stderr: typeof result.stderr === 'string' ? result.stderr : '',
    }
  }
}
