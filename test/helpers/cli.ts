import {spawn} from 'node:child_process'
import {createReadStream, existsSync, mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

/**
 * The repository root; the BUILT binary (bin/run.js → dist/) is what end-to-end tests run, as a user would.
 * CHAOS_LAB_CLI_ROOT points at another built copy (e.g. a snapshot that a rebuild cannot pull away mid-run).
 */
export const ROOT = resolve(process.env.CHAOS_LAB_CLI_ROOT ?? join(import.meta.dirname, '..', '..'))
export const BIN = join(ROOT, 'bin', 'run.js')

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
  /** stdout parsed as JSON, when it is JSON. */
  json: any
}

export interface CliOptions {
  env?: Record<string, string>
  cwd?: string
  timeoutMs?: number
  /** A file fed to the command's standard input (e.g. an archive piped through `chaos-lab ssh`). */
  stdinFile?: string
  /** Called with each chunk of stderr+stdout as it arrives (to interrupt a run at the right moment). */
  onOutput?: (text: string, child: ReturnType<typeof spawn>) => void
}

/** A private config folder (known_hosts, logs) so a test never reads or writes the user's own. */
export function isolatedEnv(): Record<string, string> {
  const home = mkdtempSync(join(tmpdir(), 'chaos-lab-home-'))
  return {XDG_CONFIG_HOME: join(home, 'config'), CI: process.env.CI ?? ''}
}

/**
 * The environment of a run of the built binary: NODE_ENV=production, always. Under vitest NODE_ENV is `test`, and
 * then oclif looks for the commands' TypeScript sources next to dist/ (and may load src/ through tsx): the test
 * would not run what users run.
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {...process.env, ...extra, NODE_ENV: 'production'}
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  if (!existsSync(join(ROOT, 'dist', 'commands'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does).')
  const started = Date.now()
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: cliEnv(options.env),
      stdio: [options.stdinFile ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    })
    if (options.stdinFile && child.stdin) createReadStream(options.stdinFile).pipe(child.stdin)
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString(); options.onOutput?.(chunk.toString(), child) })
    child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); options.onOutput?.(chunk.toString(), child) })
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20 * 60_000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      let json: unknown
      try { json = JSON.parse(stdout) } catch { json = undefined }
      resolvePromise({code, signal, stdout, stderr, ms: Date.now() - started, json})
    })
  })
}
