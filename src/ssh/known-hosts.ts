import {appendFileSync, existsSync, mkdirSync, readFileSync} from 'node:fs'
import {dirname} from 'node:path'

import {UnreachableError} from '../errors.js'

/** The OpenSSH known_hosts spelling of a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

/** The algorithm name that an SSH public key blob begins with (uint32 length + string). */
export function keyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown'
  const length = blob.readUInt32BE(0)
  return blob.subarray(4, 4 + length).toString('latin1')
}

export class HostKeyChangedError extends UnreachableError {
  constructor(name: string, file: string) {
    super(
      `The host key of ${name} is not the one recorded in ${file}. Either the VM was rebuilt (a new VM has a new key) or something is pretending to be it.`,
      {
        suggestion: `If you rebuilt or replaced this VM yourself, remove its line from ${file} (ssh-keygen -R '${name}' -f ${file}) and run the command again; otherwise do not connect.`,
        data: {host: name, knownHosts: file},
      },
      'host_key_changed',
    )
  }
}

/**
 * Host-key pinning like OpenSSH's StrictHostKeyChecking=accept-new: the first key seen for a host is
 * recorded; later connections must present a recorded key.
 */
export class KnownHosts {
  constructor(readonly file: string) {}

  /** Returns true when the key is accepted; throws HostKeyChangedError when another key is on record. */
  verify(host: string, port: number, key: Buffer): true {
    const name = knownHostsName(host, port)
    const type = keyType(key)
    const encoded = key.toString('base64')
    const recorded = this.entriesFor(name)
    if (recorded.length === 0) {
      mkdirSync(dirname(this.file), {recursive: true})
      appendFileSync(this.file, `${name} ${type} ${encoded}\n`, {mode: 0o600})
      return true
    }
    if (recorded.some((entry) => entry.type === type && entry.key === encoded)) return true
    // A host may offer a key type we have not recorded yet only if we have no key of that type.
    throw new HostKeyChangedError(name, this.file)
  }

  entriesFor(name: string): {type: string; key: string}[] {
    if (!existsSync(this.file)) return []
    const entries: {type: string; key: string}[] = []
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
      const trimmed = line.trim()
      if (!trimmed || trimmed.startsWith('#')) continue
      const [hosts, type, key] = trimmed.split(/\s+/)
      if (!hosts || !type || !key) continue
      if (hosts.split(',').includes(name)) entries.push({type, key})
    }
    return entries
  }
}
