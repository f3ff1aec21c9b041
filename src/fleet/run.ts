import type {ListrTask} from 'listr2'

import type {Deps} from '../deps.js'
import {ChaosLabError, ExitCode, InternalError, UnreachableError, type ExitCodeValue} from '../errors.js'
import {KnownHosts} from '../ssh/known-hosts.js'
import type {SshSession} from '../ssh/session.js'
import {runWithProgress} from '../ui/progress.js'
import {userKnownHostsFile} from '../util/paths.js'
import {loadInventory, type InventoryHost} from './inventory.js'
import {applyLimit} from './limit.js'

/** Eight hosts at a time: SSH work is mostly waiting, and a 2-core laptop stays responsive. */
export const HOSTS_AT_ONCE = 8

export interface FleetFlags {
  inventory: string
  limit?: string | undefined
  concurrency: number
  user?: string | undefined
  identity?: string | undefined
  verbose: boolean
}

export interface HostOutcome<T> {
  host: string
  /** ok: the work ran (its own result may still say "checks failed"); unreachable: no SSH; error: it broke. */
  status: 'ok' | 'unreachable' | 'error'
  exitCode: ExitCodeValue
  result?: T
  error?: {code: string; message: string; suggestion?: string | undefined}
}

export interface FleetReport<T> {
  inventory: string
  hosts: HostOutcome<T>[]
  summary: {total: number; ok: number; unreachable: number; error: number}
  /** The worst host's exit code. */
  exitCode: ExitCodeValue
}

export function selectHosts(flags: Pick<FleetFlags, 'inventory' | 'limit' | 'user' | 'identity'>): InventoryHost[] {
  const inventory = loadInventory(flags.inventory, {user: flags.user, identityFile: flags.identity})
  return flags.limit ? applyLimit(inventory, flags.limit) : inventory.hosts
}

/**
 * Runs `work` on every host with at most `concurrency` at once, one progress line per host. One host failing or
 * unreachable never stops the others; each host's SSH session is opened and closed here.
 */
export async function forEachHost<T>(
  hosts: readonly InventoryHost[],
  flags: Pick<FleetFlags, 'concurrency' | 'verbose' | 'inventory'>,
  deps: Deps,
  ui: {json: boolean},
  work: (session: SshSession, host: InventoryHost, progress: (line: string) => void) => Promise<{result: T; exitCode: ExitCodeValue; summary: string}>,
): Promise<FleetReport<T>> {
  const knownHosts = new KnownHosts(userKnownHostsFile(deps.env))
  const outcomes: HostOutcome<T>[] = hosts.map((host) => ({host: host.name, status: 'error', exitCode: ExitCode.internal}))
  const tasks = hosts.map((host, index): ListrTask<object> => ({
    title: host.name,
    task: async (_ctx, task) => {
      let session: SshSession | undefined
      try {
        task.output = `connecting to ${host.user}@${host.host}:${host.port}`
        session = await deps.connectSsh(host, {knownHosts})
        const done = await work(session, host, (line) => { task.output = line })
        outcomes[index] = {host: host.name, status: 'ok', exitCode: done.exitCode, result: done.result}
        task.title = `${host.name}: ${done.summary}`
      } catch (error) {
        const known = error instanceof ChaosLabError ? error : new InternalError((error as Error).message)
        outcomes[index] = {
          host: host.name,
          status: known instanceof UnreachableError ? 'unreachable' : 'error',
          exitCode: known.exitCode,
          error: {code: known.code, message: known.fullMessage(), suggestion: known.suggestion},
        }
        task.title = `${host.name}: ${known.message.split('\n')[0]}`
        throw known
      } finally {
        await session?.close()
      }
    },
  }))
  // Failures are in `outcomes`; listr's own rejection would only repeat them.
  await runWithProgress(tasks, {}, {json: ui.json, verbose: flags.verbose, concurrent: flags.concurrency, exitOnError: false}).catch(() => undefined)
  const summary = {total: outcomes.length, ok: 0, unreachable: 0, error: 0}
  for (const outcome of outcomes) summary[outcome.status]++
  const exitCode = outcomes.reduce<ExitCodeValue>((worst, outcome) => (outcome.exitCode > worst ? outcome.exitCode : worst), ExitCode.ok)
  return {inventory: flags.inventory, hosts: outcomes, summary, exitCode}
}
