import {UsageError} from '../errors.js'

/** Where chaos-lab connects: filled from `vagrant ssh-config`, a --target URL or an inventory entry. */
export interface SshTarget {
  host: string
  port: number
  user: string
  /** Private key file. */
  identityFile: string
  /** A short name for progress lines and reports (inventory host name, Vagrant machine name). */
  name: string
}

/** Parses `ssh://USER@HOST:PORT` (port optional, default 22). */
export function parseTargetUrl(url: string, identityFile: string | undefined): SshTarget {
  const bad = (why: string) =>
    new UsageError(`--target "${url}" is not a usable SSH address: ${why}.`, {
      suggestion: 'Write it as ssh://USER@HOST:PORT, for example --target ssh://chaos@192.0.2.10:22 --identity ~/.ssh/id_ed25519.',
    }, 'bad_target')
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw bad('it is not a URL')
  }
  if (parsed.protocol !== 'ssh:') throw bad(`the scheme is "${parsed.protocol.replace(/:$/, '')}", not "ssh"`)
  if (!parsed.username) throw bad('it names no user')
  if (!parsed.hostname) throw bad('it names no host')
  const port = parsed.port ? Number(parsed.port) : 22
  if (!identityFile) {
    throw new UsageError(`--target needs --identity KEY: chaos-lab logs in with a key, never a password.`, {
      suggestion: 'Add --identity with the private key that logs in as that user, e.g. --identity ~/.ssh/id_ed25519.',
    }, 'identity_missing')
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1')
  return {host, port, user: decodeURIComponent(parsed.username), identityFile, name: `${host}:${port}`}
}
