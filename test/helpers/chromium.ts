import {spawn} from 'node:child_process'
import {accessSync, constants, statSync} from 'node:fs'
import {delimiter, join} from 'node:path'

/**
 * Headless Chromium for tests of the HTML pages chaos-lab writes (Debian's `chromium` package): where it is, and a
 * run of it bounded by a timeout after which its whole process group is killed by its id. CHROMIUM_BIN picks
 * another binary.
 */

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return statSync(file).isFile()
  } catch {
    return false
  }
}

export function findChromium(): string | undefined {
  const override = process.env.CHROMIUM_BIN
  if (override) return isExecutable(override) ? override : undefined
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    for (const name of ['chromium', 'chromium-browser']) {
      const file = join(dir, name)
      if (isExecutable(file)) return file
    }
  }
  return undefined
}

export interface Finished {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Kills the process group that `pid` leads (the browser and its helpers); quiet when it is already gone. */
export function killGroup(pid: number | undefined): void {
  if (pid === undefined) return
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // Already exited.
  }
}

/** Runs the browser in its own process group, bounded by a timeout after which the group is killed by its id. */
export function runBounded(binary: string, args: string[], timeoutMs: number): Promise<Finished> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(binary, args, {detached: true, stdio: ['ignore', 'pipe', 'pipe']})
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      killGroup(child.pid)
    }, timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      killGroup(child.pid) // helpers left behind by a browser that exited
      const result = {code, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8')}
      if (timedOut) reject(new Error(`${binary} did not finish within ${timeoutMs} ms and was killed.\n${result.stderr.slice(-2000)}`))
      else resolvePromise(result)
    })
  })
}

