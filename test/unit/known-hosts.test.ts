import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {ExitCode} from '../../src/errors.js'
import {HostKeyChangedError, KnownHosts, keyType, knownHostsName} from '../../src/ssh/known-hosts.js'

function blob(type: string, body: string): Buffer {
  const name = Buffer.from(type)
  const length = Buffer.alloc(4)
  length.writeUInt32BE(name.length)
  return Buffer.concat([length, name, Buffer.from(body)])
}

describe('KnownHosts (accept-new pinning)', () => {
  const file = () => join(mkdtempSync(join(tmpdir(), 'chaos-lab-kh-')), 'sub', 'known_hosts')

  it('records the first key in OpenSSH format and accepts it again', () => {
    const path = file()
    const hosts = new KnownHosts(path)
    const key = blob('ssh-ed25519', 'first')
    expect(hosts.verify('127.0.0.1', 2222, key)).toBe(true)
    expect(readFileSync(path, 'utf8')).toBe(`[127.0.0.1]:2222 ssh-ed25519 ${key.toString('base64')}\n`)
    expect(hosts.verify('127.0.0.1', 2222, key)).toBe(true)
    expect(readFileSync(path, 'utf8').split('\n').filter(Boolean)).toHaveLength(1)
  })

  it('refuses a changed key with exit 3 and says how to forget the old one', () => {
    const hosts = new KnownHosts(file())
    hosts.verify('10.0.0.5', 22, blob('ssh-ed25519', 'first'))
    let caught: unknown
    try {
      hosts.verify('10.0.0.5', 22, blob('ssh-ed25519', 'second'))
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(HostKeyChangedError)
    const error = caught as HostKeyChangedError
    expect(error.exitCode).toBe(ExitCode.machine)
    expect(error.describe()).toContain("ssh-keygen -R '10.0.0.5'")
  })

  it('keeps hosts and ports apart', () => {
    const hosts = new KnownHosts(file())
    hosts.verify('127.0.0.1', 2222, blob('ssh-ed25519', 'a'))
    expect(hosts.verify('127.0.0.1', 2223, blob('ssh-ed25519', 'b'))).toBe(true)
    expect(knownHostsName('h', 22)).toBe('h')
    expect(keyType(blob('ecdsa-sha2-nistp256', 'x'))).toBe('ecdsa-sha2-nistp256')
  })
})
