import {spawn, spawnSync} from 'node:child_process'
import {existsSync, readFileSync, readdirSync} from 'node:fs'
import path from 'node:path'

export interface RunResult {
  /** Exit status, or null when the process died of a signal (or was killed at the time limit). */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut: boolean
}

export interface RunOptions {
  /** Killed with SIGKILL after this long. Every host command the harness starts has a limit. */
  timeoutMs: number
  input?: string
  env?: NodeJS.ProcessEnv
  /** Where to copy output as it arrives (a build log). */
  onOutput?: (chunk: string) => void
}

/** Runs a host program; never throws for a non-zero exit (read `code`). */
export function run(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, options.timeoutMs)
    child.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString()
      stdout += text
      options.onOutput?.(text)
    })
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString()
      stderr += text
      options.onOutput?.(text)
    })
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({code, signal, stdout, stderr, timedOut})
    })
    child.stdin.on('error', () => undefined)
    child.stdin.end(options.input ?? '')
  })
}

/** Like run(), but throws with the command's output when it does not exit 0. */
export async function runOk(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const result = await run(file, args, options)
  if (result.code !== 0) {
    const why = result.timedOut ? `timed out after ${options.timeoutMs} ms` : `exited ${result.code ?? result.signal ?? '?'}`
    throw new Error(`${file} ${args.join(' ')} ${why}:\n${tail(result.stderr + result.stdout, 40)}`)
  }
  return result
}

export function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n')
}

export function readTail(file: string, lines: number): string {
  try {
    return tail(readFileSync(file, 'utf8'), lines)
  } catch {
    return `(cannot read ${file})`
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** True while `pid` names a live process (a zombie counts as dead). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The state follows the parenthesised command name, which may itself contain spaces or parentheses.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

/** The process's command line, NUL-separated arguments joined with spaces ('' when it is gone). */
export function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')
  } catch {
    return ''
  }
}

/** Waits (bounded) until the process is gone. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true
    await sleep(100)
  }
  return !isAlive(pid)
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(dir: string): string[] {
  const root = path.resolve(dir)
  let info: string
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8')
  } catch {
    return []
  }
  const points: string[] = []
  for (const line of info.split('\n')) {
    const field = line.split(' ')[4]
    if (!field) continue
    const point = field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)))
    if (point === root || point.startsWith(root + '/')) points.push(point)
  }
  return points.sort((a, b) => b.length - a.length)
}

/**
 * Deletes a directory tree that may once have had file systems mounted inside it: unmounts what is still
 * mounted, then removes with `rm --one-file-system`, which refuses to cross into anything still mounted
 * (so a forgotten bind mount can never make it delete a host directory).
 */
export function removeTreeSync(dir: string): void {
  if (!existsSync(dir)) return
  for (const point of mountsUnder(dir)) {
    const result = spawnSync('umount', [point], {timeout: 30_000})
    if (result.status !== 0) spawnSync('umount', ['-l', point], {timeout: 30_000})
  }
  const result = spawnSync('rm', ['-rf', '--one-file-system', dir], {timeout: 120_000, encoding: 'utf8'})
  if (result.status !== 0) throw new Error(`Could not remove ${dir}: ${result.stderr}`)
}

/** Finds a program on PATH, also looking in the sbin directories that a non-login PATH may lack. */
export function which(tool: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin']
  for (const dir of dirs) {
    if (!dir) continue
    const candidate = path.join(dir, tool)
    if (existsSync(candidate)) return candidate
  }
  return undefined
}

/** Directory entries, or [] when the directory does not exist. */
export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}
