import {spawn, spawnSync} from 'node:child_process'
import {closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {registerTeardown} from './cleanup.js'
import {markImageUsed, type TestImage} from './image.js'
import {addNat, claimSubnet, linkSubnet, releaseSubnet, restoreForwarding, shOk, type Subnet, type SubnetRange} from './netns.js'
import {cmdlineOf, isAlive, readTail, removeTreeSync, waitForExit, which} from './run.js'
import {type SshEndpoint, type SshOptions, type SshResult, closeSharedConnections, sshExec, waitForSsh} from './ssh.js'

export interface StartContainerOptions {
  image: TestImage
  /** Machine name and host name (letters, digits, '-'). */
  name: string
  /** Memory limit of the whole container (a cgroup v1 memory limit, swap included); default 1024 MB. */
  memoryMb?: number
  /**
   * CPU time the whole container may use, in CPUs (a cgroup v1 CFS quota: 0.1 is a tenth of one core); default
   * no limit. Containers whose quotas add up to less than the host's cores each get their own share, as VMs on
   * hosts of their own would.
   */
  cpus?: number
  /**
   * How many CPUs the container sees (`nproc`, sched affinity): systemd-nspawn --cpu-affinity=0-(N-1). A
   * container has its host's kernel, so without it nproc shows every CPU of the host. Default: all of them.
   */
  cpuCount?: number
  /**
   * Give the container a route to the outside (for apt): turns on IPv4 forwarding on the host and adds an
   * iptables MASQUERADE rule for the container's /30, removed again by stop(). Default false.
   */
  internet?: boolean
  /** How long to wait for SSH after starting systemd-nspawn; default 60 s. */
  bootTimeoutMs?: number
}

export interface Container extends SshEndpoint {
  /** The container's address on its veth link (10.213.X.Y). */
  host: string
  port: 22
  user: 'admin'
  identityFile: string
  /** The host's end of the veth pair (the container's default gateway). */
  gateway: string
  /** The network namespace the container lives in (ip netns). */
  netns: string
  /** Scratch directory: overlay upper/work dirs, the merged root, console.log. Removed by stop(). */
  dir: string
  consoleLog: string
  /** systemd-nspawn's PID. */
  pid: number
  /** Milliseconds from starting systemd-nspawn to the first successful SSH login. */
  bootMs: number
  ssh(command: string, options?: SshOptions): Promise<SshResult>
  /** Powers the container off (SIGTERM to systemd-nspawn, bounded), then removes all it used. Idempotent. */
  stop(): Promise<void>
  /** Sets (or, with undefined, lifts) the container's CPU limit, as the `cpus` option does at start. */
  limitCpu(cpus: number | undefined): void
  /** The host PIDs of every process in the container now (its cgroup's), e.g. to see a command run or its CPU. */
  pids(): number[]
}

const NETNS_PREFIX = 'chaos-lab-ct-'
/** A /30 of 10.213.0.0/16 per container, in the namespace chaos-lab-ct-N, host end clhN. */
const SUBNETS: SubnetRange = {network: '10.213', netnsPrefix: NETNS_PREFIX, vethPrefix: 'clh', purpose: 'a container'}

/** One cgroup hierarchy: where it is mounted and where this process sits in it. */
interface Hierarchy {
  mount: string
  own: string
}

/**
 * The hierarchies a container needs a cgroup of its own in: the v1 memory controller (the limit), and
 * on a hybrid host the name=systemd and unified ones, where systemd-nspawn puts its "supervisor" and
 * "payload" cgroups below its own (at the root, two containers would share them).
 */
function cgroupHierarchies(): {memory?: Hierarchy; systemd?: Hierarchy; unified?: Hierarchy; cpu?: Hierarchy} {
  const mounts: {memory?: string; systemd?: string; unified?: string; cpu?: string} = {}
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ')
    if (!left || !right) continue
    const point = left.split(' ')[4]
    const [fstype, , superOptions = ''] = right.split(' ')
    const options = superOptions.split(',')
    if (fstype === 'cgroup' && options.includes('memory')) mounts.memory ??= point
    if (fstype === 'cgroup' && options.includes('cpu')) mounts.cpu ??= point
    if (fstype === 'cgroup' && options.includes('name=systemd')) mounts.systemd ??= point
    if (fstype === 'cgroup2') mounts.unified ??= point
  }
  const own: {memory?: string; systemd?: string; unified?: string; cpu?: string} = {}
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line)
    if (!match) continue
    const controllers = (match[2] ?? '').split(',')
    if (controllers.includes('memory')) own.memory = match[3]
    if (controllers.includes('cpu')) own.cpu = match[3]
    if (controllers.includes('name=systemd')) own.systemd = match[3]
    if (match[1] === '0' && match[2] === '') own.unified = match[3]
  }
  const pick = (key: 'memory' | 'systemd' | 'unified' | 'cpu') => {
    const mount = mounts[key]
    const ownPath = own[key]
    return mount !== undefined && ownPath !== undefined ? {mount, own: ownPath} : undefined
  }
  const memory = pick('memory')
  // Only a hybrid host (v1 memory controller present) is supported, so cgroup2 here is the unified one.
  return memory ? {memory, systemd: pick('systemd'), unified: pick('unified'), cpu: pick('cpu')} : {}
}

/** Every PID in a cgroup and its descendants (v1 cgroup.procs lists only the cgroup's own). */
function cgroupTreePids(dir: string): number[] {
  const pids: number[] = []
  const visit = (current: string, depth: number) => {
    try {
      pids.push(...readFileSync(path.join(current, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number))
    } catch {
      return
    }
    if (depth > 12) return
    for (const entry of readdirSync(current, {withFileTypes: true})) {
      if (entry.isDirectory()) visit(path.join(current, entry.name), depth + 1)
    }
  }
  visit(dir, 0)
  return pids
}

/** rmdir's a cgroup and its (empty) descendants, deepest first. */
function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return
  for (const entry of readdirSync(dir, {withFileTypes: true})) {
    if (entry.isDirectory()) removeCgroupTree(path.join(dir, entry.name))
  }
  try {
    rmdirSync(dir)
  } catch {
    // Still has a task: leave it rather than hang.
  }
}

/**
 * Why startContainer() cannot work on this machine, or undefined when it can. It needs root, the tools
 * systemd-nspawn, ip and iptables (for `internet`), overlayfs, and a cgroup v1 memory controller (the
 * memory limit is a v1 cgroup the harness creates below its own; a pure cgroup v2 host is not supported).
 */
export function nspawnUnavailableReason(): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'systemd-nspawn containers need root'
  for (const tool of ['systemd-nspawn', 'ip', 'mount', 'umount']) {
    if (!which(tool)) return `${tool} is not installed`
  }
  if (!readFileSync('/proc/filesystems', 'utf8').includes('\toverlay\n')) return 'the kernel has no overlay file system'
  if (!cgroupHierarchies().memory) {
    return 'no cgroup v1 memory controller is mounted (the harness limits container memory with one; pure cgroup v2 is not supported)'
  }
  return undefined
}

/**
 * Boots the image's root file system with `systemd-nspawn -b` on a private overlay (the cached rootfs
 * stays read-only), in a network namespace of its own joined to the host by a veth pair in a /30 of
 * 10.213.0.0/16, inside a cgroup v1 memory limit. SSH answers at the container's address, port 22.
 */
export async function startContainer(options: StartContainerOptions): Promise<Container> {
  const {image, name, memoryMb = 1024, cpus, cpuCount, internet = false, bootTimeoutMs = 60_000} = options
  if (cpuCount !== undefined && !(Number.isInteger(cpuCount) && cpuCount >= 1 && cpuCount <= os.availableParallelism())) {
    throw new Error(`startContainer: cpuCount ${cpuCount} must be a whole number from 1 to this host's ${os.availableParallelism()} CPUs.`)
  }
  const unavailable = nspawnUnavailableReason()
  if (unavailable) throw new Error(`startContainer: systemd-nspawn cannot run containers here: ${unavailable}.`)
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(name)) throw new Error(`startContainer: bad container name "${name}" (a-z, 0-9, '-').`)

  markImageUsed(image)
  const dir = mkdtempSync(path.join(os.tmpdir(), `chaos-lab-ct-${name}-`))
  const tag = path.basename(dir) // chaos-lab-ct-NAME-XXXXXX
  const upper = path.join(dir, 'upper')
  const work = path.join(dir, 'work')
  const merged = path.join(dir, 'root')
  const consoleLog = path.join(dir, 'console.log')
  const hierarchies = cgroupHierarchies()
  const cgroups = [hierarchies.memory, hierarchies.systemd, hierarchies.unified, hierarchies.cpu]
    .filter((hierarchy): hierarchy is Hierarchy => hierarchy !== undefined)
    .map((hierarchy) => path.join(hierarchy.mount, hierarchy.own, tag))
  const memoryCgroup = cgroups[0] ?? ''
  const cpuCgroup = hierarchies.cpu ? cgroups.at(-1) : undefined
  const limitCpu = (limit: number | undefined) => {
    if (!cpuCgroup || (limit !== undefined && !(limit > 0))) {
      throw new Error(`startContainer: cannot limit ${name} to ${limit} CPUs (${cpuCgroup ? 'give a positive number' : 'no cgroup v1 cpu controller is mounted'}).`)
    }
    const periodUs = 100_000
    writeFileSync(path.join(cpuCgroup, 'cpu.cfs_period_us'), String(periodUs))
    writeFileSync(path.join(cpuCgroup, 'cpu.cfs_quota_us'), limit === undefined ? '-1' : String(Math.max(1000, Math.round(limit * periodUs))))
  }
  let subnet: Subnet | undefined
  // Its host is filled in once the address is known; until then there is no shared connection to close.
  const endpoint: SshEndpoint = {host: '', port: 22, user: 'admin', identityFile: image.privateKeyPath, name, controlDir: dir}
  let machine = ''
  let natAdded = false
  let pid = 0

  /** Synchronous, idempotent: kills whatever is left, then removes mounts, links, rules, cgroups, files. */
  const destroy = () => {
    closeSharedConnections(endpoint)
    if (pid && isAlive(pid) && cmdlineOf(pid).includes(merged)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // Gone.
      }
    }
    // Every process of the container is in the memory cgroup, whatever became of systemd-nspawn.
    for (let round = 0; round < 50 && cgroupTreePids(memoryCgroup).length > 0; round++) {
      for (const member of cgroupTreePids(memoryCgroup)) {
        try {
          process.kill(member, 'SIGKILL')
        } catch {
          // Gone.
        }
      }
      spawnSync('sleep', ['0.1'])
    }
    if (existsSync(dir)) removeTreeSync(dir)
    // systemd-nspawn leaves this behind when /run is not a tmpfs ("we can't allow that").
    if (machine) rmSync(`/run/systemd/nspawn/propagate/${machine}`, {recursive: true, force: true})
    if (subnet) {
      releaseSubnet(subnet, natAdded)
      // Whichever container ends last puts ip_forward back, with or without `internet` itself.
      restoreForwarding(NETNS_PREFIX)
    }
    for (const cgroup of [...cgroups].reverse()) removeCgroupTree(cgroup)
  }
  const unregister = registerTeardown(destroy)

  try {
    mkdirSync(upper)
    mkdirSync(work)
    mkdirSync(merged)
    shOk(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${image.rootfsDir},upperdir=${upper},workdir=${work}`, merged])
    writeFileSync(path.join(merged, 'etc/hostname'), `${name}\n`)
    writeFileSync(
      path.join(merged, 'etc/hosts'),
      `127.0.0.1\tlocalhost\n127.0.1.1\t${name}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
    )

    for (const cgroup of cgroups) mkdirSync(cgroup)
    // The limit covers memory and swap together (the host has no swap anyway; the lab has none either).
    const bytes = String(memoryMb * 1024 * 1024)
    writeFileSync(path.join(memoryCgroup, 'memory.limit_in_bytes'), bytes)
    if (existsSync(path.join(memoryCgroup, 'memory.memsw.limit_in_bytes'))) {
      writeFileSync(path.join(memoryCgroup, 'memory.memsw.limit_in_bytes'), bytes)
    }
    if (cpus !== undefined) limitCpu(cpus)

    subnet = claimSubnet(SUBNETS)
    // Unique per container: systemd-nspawn keeps per-machine state under /run by this name.
    machine = `cl${subnet.index}-${name}`
    linkSubnet(subnet, 'cl0')
    if (internet) {
      addNat(subnet)
      natAdded = true
    }

    const nspawnArgs = [
      '--quiet',
      '--boot',
      `--directory=${merged}`,
      `--machine=${machine}`,
      `--hostname=${name}`,
      // No machined, no D-Bus on the host: stay in the cgroups set up here.
      '--register=no',
      '--keep-unit',
      `--network-namespace-path=/run/netns/${subnet.netns}`,
      '--resolv-conf=copy-host',
      '--timezone=off',
      '--link-journal=no',
      '--console=read-only',
      ...(cpuCount === undefined ? [] : [`--cpu-affinity=0-${cpuCount - 1}`]),
    ]
    const logFd = openSync(consoleLog, 'a')
    const startedAt = Date.now()
    // The shell joins the container's cgroups, then becomes systemd-nspawn: nothing escapes the limit.
    const script = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1/cgroup.procs" || exit 97; shift; n=$((n-1)); done; exec systemd-nspawn "$@"'
    const child = spawn('sh', ['-c', script, 'sh', String(cgroups.length), ...cgroups, ...nspawnArgs], {
      stdio: ['ignore', logFd, logFd],
    })
    closeSync(logFd)
    child.unref()
    if (child.pid === undefined) throw new Error('systemd-nspawn did not start')
    pid = child.pid
    let exitCode: number | null | undefined
    child.on('exit', (code) => {
      exitCode = code
    })

    endpoint.host = subnet.address
    try {
      await waitForSsh(endpoint, {
        timeoutMs: bootTimeoutMs,
        failure: () => (exitCode === undefined ? undefined : `systemd-nspawn exited (${exitCode ?? 'signal'})`),
      })
    } catch (error) {
      throw new Error(`${(error as Error).message}\nLast lines of the container console (${consoleLog}):\n${readTail(consoleLog, 30)}`, {
        cause: error,
      })
    }
    const bootMs = Date.now() - startedAt

    let stopped = false
    return {
      host: subnet.address,
      port: 22,
      user: 'admin',
      identityFile: image.privateKeyPath,
      name,
      gateway: subnet.gateway,
      netns: subnet.netns,
      dir,
      consoleLog,
      controlDir: dir,
      pid,
      bootMs,
      ssh: (command, sshOptions) => sshExec(endpoint, command, sshOptions),
      limitCpu,
      pids: () => cgroupTreePids(memoryCgroup),
      stop: async () => {
        if (stopped) return
        stopped = true
        if (exitCode === undefined && isAlive(pid)) {
          // systemd-nspawn turns SIGTERM into an orderly poweroff of the container (about 2.5 s).
          process.kill(pid, 'SIGTERM')
          await waitForExit(pid, 15_000)
        }
        destroy()
        unregister()
      },
    }
  } catch (error) {
    destroy()
    unregister()
    throw error
  }
}
