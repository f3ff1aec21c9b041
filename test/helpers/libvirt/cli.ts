import {spawn} from 'node:child_process'
import {cpSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync} from 'node:fs'
import path from 'node:path'

import {BIN, ROOT, type CliResult} from '../cli.js'
import type {LibvirtHost} from './daemon.js'

/** What of the package the built CLI reads at run time (package.json's "files", plus package.json). */
const PACKAGE_PARTS = ['package.json', 'bin', 'dist', 'templates', 'provisioning', 'labs'] as const

/**
 * Copies the built package (bin/, dist/, templates/, provisioning/, labs/, package.json; node_modules linked)
 * into `dir` and returns its bin/run.js. A long end-to-end run uses this copy, so that a rebuild of dist/
 * meanwhile (`npm run build` starts with rm -rf dist) cannot pull the CLI away from under it. When dist/ is
 * being rebuilt right now, waits (bounded) for the build to finish first.
 */
export async function freezeCli(dir: string, waitMs = 3 * 60_000): Promise<string> {
  const marker = path.join(ROOT, 'dist', 'commands', 'up.js')
  const deadline = Date.now() + waitMs
  let lastChange = ''
  let stableSince = Date.now()
  for (;;) {
    const state = existsSync(marker) ? treeStamp(path.join(ROOT, 'dist')) : ''
    if (state !== lastChange) {
      lastChange = state
      stableSince = Date.now()
    }
    if (state && Date.now() - stableSince >= 3000) break
    if (Date.now() > deadline) throw new Error('dist/ is missing or still changing: run `npm run build` first (npm test does).')
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  mkdirSync(dir, {recursive: true})
  for (const part of PACKAGE_PARTS) {
    if (existsSync(path.join(ROOT, part))) cpSync(path.join(ROOT, part), path.join(dir, part), {recursive: true})
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'))
  if (!existsSync(path.join(dir, 'dist', 'commands', 'up.js'))) throw new Error(`The copy of the built CLI in ${dir} is incomplete (dist/ changed while it was copied).`)
  return path.join(dir, 'bin', 'run.js')
}

/** Number of files and newest mtime under a directory: changes while a build writes into it. */
function treeStamp(dir: string): string {
  let count = 0
  let newest = 0
  const visit = (current: string, depth: number) => {
    if (depth > 8) return
    for (const entry of readdirSync(current, {withFileTypes: true})) {
      const full = path.join(current, entry.name)
      if (entry.isDirectory()) visit(full, depth + 1)
      else {
        count++
        newest = Math.max(newest, statSync(full).mtimeMs)
      }
    }
  }
  try {
    visit(dir, 0)
  } catch {
    return ''
  }
  return `${count}:${newest}`
}

export interface NetnsCliOptions {
  /** The chaos-lab to run (a bin/run.js); default the repository's. See freezeCli(). */
  bin?: string
  env?: Record<string, string>
  timeoutMs?: number
  /**
   * Called with each chunk of output (stdout and stderr) as it arrives; `interrupt()` sends SIGINT to the
   * whole process group, as Ctrl-C in a terminal would (chaos-lab, vagrant, ssh…).
   */
  onOutput?: (text: string, interrupt: () => void) => void
}

export interface RunningCli {
  /** Resolves when the process group's leader ends. */
  done: Promise<CliResult>
  /** All output (stdout and stderr) so far. */
  output(): string
  /** SIGINT to the whole process group, as Ctrl-C in a terminal would (chaos-lab, vagrant, ssh…). */
  interrupt(): void
}

/**
 * Starts the BUILT chaos-lab (bin/run.js → dist/) inside the libvirt host's network namespace, where the VMs'
 * network is: Vagrant, vagrant-libvirt's port forwards and chaos-lab's own SSH connections all run there.
 * Killed (the whole group) at the time limit.
 */
export function startCliInNetns(host: LibvirtHost, args: string[], options: NetnsCliOptions = {}): RunningCli {
  const bin = options.bin ?? BIN
  if (!existsSync(path.join(path.dirname(bin), '..', 'dist', 'commands'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does).')
  const started = Date.now()
  const [file, wrapped] = host.wrap(process.execPath, [bin, ...args])
  const child = spawn(file, wrapped, {
    cwd: ROOT,
    // Under NODE_ENV=test or development (vitest sets test) oclif loads the commands' TypeScript sources
    // through tsconfig.json instead of dist/: run the built CLI, as a user would.
    env: {...process.env, NODE_ENV: 'production', ...options.env},
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process group of its own: SIGINT (interrupt) and SIGKILL (time limit) reach every process it starts.
    detached: true,
  })
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
    try {
      process.kill(-child.pid, signal)
    } catch {
      // Already gone.
    }
  }
  let stdout = ''
  let stderr = ''
  let all = ''
  const interrupt = () => { signalGroup('SIGINT') }
  const done = new Promise<CliResult>((resolvePromise, reject) => {
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); all += chunk.toString(); options.onOutput?.(chunk.toString(), interrupt) })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); all += chunk.toString(); options.onOutput?.(chunk.toString(), interrupt) })
    const timer = setTimeout(() => { signalGroup('SIGKILL') }, options.timeoutMs ?? 20 * 60_000)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      let json: unknown
      try {
        json = JSON.parse(stdout)
      } catch {
        json = undefined
      }
      resolvePromise({code, signal, stdout, stderr, ms: Date.now() - started, json})
    })
  })
  return {done, output: () => all, interrupt}
}

/** startCliInNetns(), awaited. */
export function runCliInNetns(host: LibvirtHost, args: string[], options: NetnsCliOptions = {}): Promise<CliResult> {
  return startCliInNetns(host, args, options).done
}
