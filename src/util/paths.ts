import {homedir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

/** The package root (holds templates/, provisioning/, labs/), from src/ under tsx or dist/ once built. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

export function packagePath(...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts)
}

/** Where chaos-lab keeps per-user state when there is no lab folder (e.g. known_hosts for --target). */
export function userConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config')
  return join(base, 'chaos-lab')
}

/** known_hosts for machines reached without a lab folder (--target, inventories). */
export function userKnownHostsFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(userConfigDir(env), 'known_hosts')
}

/** The folder of log files for runs without a lab folder. */
export function userLogsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(userConfigDir(env), 'logs')
}

/** Expands a leading ~ to the home folder. */
export function expandHome(path: string, env: NodeJS.ProcessEnv = process.env): string {
  if (path === '~') return env.HOME || homedir()
  if (path.startsWith('~/')) return join(env.HOME || homedir(), path.slice(2))
  return path
}
