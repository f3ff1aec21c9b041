import {spawnSync} from 'node:child_process'

import {listDir, run, sleep} from './run.js'

/** Where a test machine listens for SSH and the key that logs in (matches src/ssh/target.ts's SshTarget). */
export interface SshEndpoint {
  host: string
  port: number
  user: string
  identityFile: string
  name: string
  /**
   * Directory for OpenSSH connection-sharing sockets (one master connection per user). Under TCG a fresh
   * login costs seconds (key exchange, PAM, a logind session); a shared connection runs a command at once.
   */
  controlDir?: string
}

export interface SshResult {
  /** The remote command's exit status; 255 is ssh's own failure; null when ssh was killed at the time limit. */
  code: number | null
  stdout: string
  stderr: string
}

export interface SshOptions {
  /** Log in as another user of the image (e.g. 'nosudo'); default the endpoint's user. */
  user?: string
  /** Default 120 s. */
  timeoutMs?: number
  /** Written to the remote command's standard input. */
  input?: string
}

/** How long an idle shared connection stays open. */
const CONTROL_PERSIST_S = 120

/** OpenSSH client options for throwaway machines: key only, no prompts, no known_hosts. */
export function sshArgs(endpoint: SshEndpoint, user = endpoint.user, connectTimeoutS = 10): string[] {
  const sharing = endpoint.controlDir
    ? ['-o', 'ControlMaster=auto', '-o', `ControlPath=${endpoint.controlDir}/ssh-%r.sock`, '-o', `ControlPersist=${CONTROL_PERSIST_S}`]
    : []
  return [
    ...sharing,
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'LogLevel=ERROR',
    '-o', `ConnectTimeout=${connectTimeoutS}`,
    '-o', 'ServerAliveInterval=5',
    '-o', 'ServerAliveCountMax=6',
    '-i', endpoint.identityFile,
    '-p', String(endpoint.port),
    `${user}@${endpoint.host}`,
  ]
}

/** Runs one shell command on the machine through the openssh client. */
export async function sshExec(endpoint: SshEndpoint, command: string, options: SshOptions = {}): Promise<SshResult> {
  const result = await run('ssh', [...sshArgs(endpoint, options.user), '--', command], {
    timeoutMs: options.timeoutMs ?? 120_000,
    input: options.input,
  })
  return {code: result.timedOut ? null : result.code, stdout: result.stdout, stderr: result.stderr}
}

/**
 * Ends every shared connection to the machine (ssh -O exit), so no background ssh master outlives it.
 * Synchronous, so that the process-exit teardown can call it too.
 */
export function closeSharedConnections(endpoint: SshEndpoint): void {
  if (!endpoint.controlDir) return
  for (const name of listDir(endpoint.controlDir)) {
    const user = /^ssh-(.+)\.sock$/.exec(name)?.[1]
    if (user) spawnSync('ssh', [...sshArgs(endpoint, user), '-O', 'exit'], {timeout: 10_000, stdio: 'ignore'})
  }
}

export interface WaitForSshOptions {
  timeoutMs: number
  /** Checked between attempts: a string is the reason the machine can no longer come up (stop waiting). */
  failure?: () => string | undefined
}

/** Polls until `ssh … true` succeeds: bounded by time, one attempt at a time, at most one a second. */
export async function waitForSsh(endpoint: SshEndpoint, options: WaitForSshOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs
  let last = ''
  let attempts = 0
  while (Date.now() < deadline) {
    const failure = options.failure?.()
    if (failure) throw new Error(`${endpoint.name} will not answer SSH: ${failure}`)
    attempts++
    const started = Date.now()
    const remaining = Math.max(1, Math.ceil((deadline - started) / 1000))
    const probe = {...endpoint, controlDir: undefined} // A plain login: a failed probe leaves no master behind.
    const result = await run('ssh', [...sshArgs(probe, endpoint.user, Math.min(5, remaining)), '--', 'true'], {
      timeoutMs: Math.min(15_000, remaining * 1000 + 2000),
    })
    if (result.code === 0) return
    last = result.stderr.trim() || `exit ${result.code ?? 'killed'}`
    const spent = Date.now() - started
    if (spent < 1000) await sleep(1000 - spent)
  }
  throw new Error(
    `${endpoint.name} did not answer SSH on ${endpoint.host}:${endpoint.port} within ${options.timeoutMs / 1000} s ` +
      `(${attempts} attempts; last: ${last})`,
  )
}
