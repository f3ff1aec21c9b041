import {constants, existsSync} from 'node:fs'
import {access, open, readFile, statfs} from 'node:fs/promises'
import {createServer} from 'node:net'
import {arch, freemem, platform, totalmem} from 'node:os'
import {dirname, resolve} from 'node:path'

import type {ProcessRunner} from '../process/runner.js'

export type KvmAccess = 'usable' | 'denied' | 'missing'
export type PortState = 'free' | 'in-use' | 'denied'

/**
 * What `chaos-lab doctor` reads about this computer, behind one small interface so that tests can describe any
 * host (an Apple Silicon laptop, a Linux box without KVM, a full disk) without being one.
 */
export interface HostFacts {
  /** process.platform: linux, darwin, win32… */
  platform: NodeJS.Platform
  /** os.arch(): x64, arm64… */
  arch: string
  /**
   * CPU feature flags, lowercase: Linux /proc/cpuinfo `flags` (x86) or `Features` (ARM); macOS
   * `sysctl machdep.cpu.features` plus `hv_support` when `kern.hv_support` is 1. Undefined when unknown.
   */
  cpuFlags(): Promise<string[] | undefined>
  /** Whether this user can open /dev/kvm read-write. */
  kvm(): Promise<KvmAccess>
  /** Memory the system could give a new VM now (os.freemem), in MB. */
  freeMemoryMb(): number
  totalMemoryMb(): number
  /** Free disk space for this user on the file system holding `path` (or its nearest existing parent), in MB. */
  freeDiskMb(path: string): Promise<number | undefined>
  /** Whether a TCP port on `host` can be listened on now. */
  port(port: number, host: string): Promise<PortState>
  /** Whether this user can read the file. */
  readable(path: string): Promise<boolean>
}

const MB = 1024 * 1024

async function linuxCpuFlags(): Promise<string[] | undefined> {
  try {
    const text = await readFile('/proc/cpuinfo', 'utf8')
    const line = text.split('\n').find((l) => /^(flags|Features)\s*:/.test(l))
    return line ? line.replace(/^[^:]*:/, '').trim().toLowerCase().split(/\s+/).filter(Boolean) : undefined
  } catch {
    return undefined
  }
}

async function macCpuFlags(runner: ProcessRunner): Promise<string[] | undefined> {
  const sysctl = async (name: string) => {
    try {
      const result = await runner.run('sysctl', ['-n', name], {timeoutMs: 10_000})
      return result.exitCode === 0 ? result.stdout.trim() : undefined
    } catch {
      return undefined
    }
  }
  const [features, hv] = await Promise.all([sysctl('machdep.cpu.features'), sysctl('kern.hv_support')])
  if (features === undefined && hv === undefined) return undefined
  const flags = (features ?? '').toLowerCase().split(/\s+/).filter(Boolean)
  if (hv === '1') flags.push('hv_support')
  return flags
}

/** The real host. Program starts (macOS `sysctl`) go through the given runner. */
export function createHostFacts(runner: ProcessRunner): HostFacts {
  const os = platform()
  return {
    platform: os,
    arch: arch(),
    cpuFlags: () => (os === 'linux' ? linuxCpuFlags() : os === 'darwin' ? macCpuFlags(runner) : Promise.resolve(undefined)),
    async kvm() {
      if (os !== 'linux') return 'missing'
      try {
        const handle = await open('/dev/kvm', 'r+')
        await handle.close()
        return 'usable'
      } catch (error) {
        return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'denied'
      }
    },
    freeMemoryMb: () => Math.floor(freemem() / MB),
    totalMemoryMb: () => Math.floor(totalmem() / MB),
    async freeDiskMb(path) {
      let at = resolve(path)
      while (!existsSync(at) && dirname(at) !== at) at = dirname(at)
      try {
        const stats = await statfs(at)
        return Math.floor((stats.bavail * stats.bsize) / MB)
      } catch {
        return undefined
      }
    },
    port: (port, host) => new Promise<PortState>((done) => {
      const server = createServer()
      server.once('error', (error: NodeJS.ErrnoException) => {
        done(error.code === 'EACCES' || error.code === 'EPERM' ? 'denied' : 'in-use')
      })
      server.listen({port, host, exclusive: true}, () => {
        server.close(() => { done('free') })
      })
    }),
    async readable(path) {
      try {
        await access(path, constants.R_OK)
        return true
      } catch {
        return false
      }
    },
  }
}
