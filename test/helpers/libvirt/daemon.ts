import {spawn, spawnSync} from 'node:child_process'
import {closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {registerTeardown} from '../vm/cleanup.js'
import {testCacheDir} from '../vm/image.js'
import {addNat, claimSubnet, linkSubnet, natRule, releaseSubnet, restoreForwarding, sh, shOk, type Subnet, type SubnetRange} from '../vm/netns.js'
import {isAlive, readTail, removeTreeSync, run, sleep, type RunResult} from '../vm/run.js'

/**
 * A private libvirt host for tests, started without systemd: libvirtd + virtlogd in a network namespace of
 * their own (so the NAT network vagrant-libvirt creates, its dnsmasq and its iptables chains never touch the
 * host's), in a mount namespace where /etc/libvirt, /run/libvirt, /var/lib/libvirt and /var/log/libvirt are
 * bind mounts of a scratch directory (so nothing of the host's libvirt state is read or written). Clients reach
 * it through the socket in that directory: `qemu:///system?socket=<dir>/run/libvirt-sock`.
 *
 * QEMU runs as root (qemu.conf user/group root): DESIGN.md's /dev/kvm trap (libvirt's QEMU user cannot open
 * /dev/kvm, so libvirt re-probes QEMU on nearly every call), and the kernel and initrd of a box's direct kernel
 * boot are readable wherever they are. No cgroups, no per-domain mount namespace, no security driver: none of
 * them works, or is needed, without systemd.
 *
 * The VMs' network (vagrant-libvirt's 192.168.121.0/24) exists only inside the namespace: programs that talk
 * to the VMs (vagrant, chaos-lab, ssh) run there too, through `wrap()`. The namespace reaches the outside (the
 * Debian mirror, for provisioning) through a veth pair in a /30 of 10.214.0.0/16 and one MASQUERADE rule on the
 * host, removed again by stop().
 */

const NETNS_PREFIX = 'chaos-lab-lv'
/** A /30 of 10.214.0.0/16, in the namespace chaos-lab-lvN, host end clvN. */
const SUBNETS: SubnetRange = {network: '10.214', netnsPrefix: NETNS_PREFIX, vethPrefix: 'clv', purpose: 'libvirt'}
const DIR_PREFIX = 'cl-lv-'
const OWNER_FILE = 'owner.json'
const READY_TIMEOUT_MS = 90_000
const VIRSH_TIMEOUT_MS = 120_000

/** ip_forward is put back only when no test namespace at all is left (nspawn.ts's containers' included). */
const ANY_TEST_NETNS = 'chaos-lab-'

export const LIBVIRT_HOST_TOOLS = ['libvirtd', 'virtlogd', 'virsh', 'dnsmasq', 'ip', 'iptables', 'mount', 'qemu-system-x86_64'] as const

export interface StartLibvirtOptions {
  /** Route the namespace (and so the VMs) to the outside through the host, for apt. Default true. */
  internet?: boolean
  /** Progress lines. */
  log?: (line: string) => void
}

export interface LibvirtHost {
  /** Scratch directory: etc/ run/ lib/ log/ as libvirtd sees them under /etc/libvirt etc. Removed by stop(). */
  dir: string
  socketPath: string
  /** qemu:///system on this host's socket: for virsh -c, LIBVIRT_DEFAULT_URI or vagrant-libvirt's libvirt.uri. */
  uri: string
  netns: string
  /** Where the host directory `/var/lib/libvirt/images` of libvirtd's view really is (the pool "default"). */
  poolDir: string
  /** The pool vagrant-libvirt uses, created by start: "default". */
  pool: string
  libvirtdPid: number
  virtlogdPid: number
  /** [file, args] that run `file args` inside the namespace (where the VMs can be reached). */
  wrap(file: string, args: readonly string[]): [string, string[]]
  virsh(args: readonly string[], timeoutMs?: number): Promise<RunResult>
  /** Names of all domains, running or not. */
  domains(): Promise<string[]>
  /** Names of the volumes in a pool (default: the pool "default"). */
  volumes(pool?: string): Promise<string[]>
  networks(): Promise<string[]>
  /** The last lines of libvirtd's log and of each domain's QEMU log, for a failure message. */
  diagnostics(lines?: number): string
  /** Tears everything down (domains, networks, pools, daemons, namespace, NAT rule, files). Idempotent. */
  stop(): Promise<void>
}

function pidsInNetns(netns: string): number[] {
  const result = sh(['ip', 'netns', 'pids', netns])
  if (!result.ok) return []
  return result.output.split('\n').map((line) => Number.parseInt(line, 10)).filter((pid) => Number.isInteger(pid) && pid > 1)
}

/** SIGTERM, then SIGKILL whatever is left after a grace period; bounded. */
function killAll(pids: () => number[], graceMs: number): void {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    const targets = pids()
    if (targets.length === 0) return
    for (const pid of targets) {
      try {
        process.kill(pid, signal)
      } catch {
        // Gone.
      }
    }
    const deadline = Date.now() + graceMs
    while (Date.now() < deadline && pids().some(isAlive)) spawnSync('sleep', ['0.1'])
  }
}

const LIBVIRTD_CONF = `# chaos-lab tests: a private libvirtd, reached only through its own socket.
unix_sock_group = "root"
unix_sock_ro_perms = "0770"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
`

const QEMU_CONF = `# chaos-lab tests: QEMU runs as root (no /dev/kvm permission trap; box kernels readable anywhere), and
# without what needs systemd or a full host (cgroups, per-domain /dev namespaces, AppArmor/SELinux labels).
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = []
cgroup_controllers = []
`

/**
 * Starts the private libvirt host. Needs root. Waits (bounded) until libvirtd answers, then creates the
 * storage pool "default" (what vagrant-libvirt uses) in the scratch directory.
 */
export async function startLibvirt(options: StartLibvirtOptions = {}): Promise<LibvirtHost> {
  const {internet = true} = options
  const log = options.log ?? (() => undefined)
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('startLibvirt needs root.')

  sweepStale(log)
  // Short: the socket path must stay under the 108 bytes of sun_path.
  const dir = mkdtempSync(path.join(os.tmpdir(), DIR_PREFIX))
  const etc = path.join(dir, 'etc')
  const runDir = path.join(dir, 'run')
  const lib = path.join(dir, 'lib')
  const logDir = path.join(dir, 'log')
  // QEMU's capabilities, probed on libvirtd's first start (~10 s): kept between runs. libvirt invalidates it
  // itself when QEMU or libvirt change.
  const cache = path.join(testCacheDir(), 'libvirt-cache')
  for (const sub of [etc, path.join(etc, 'qemu', 'networks'), path.join(etc, 'storage'), runDir, lib, path.join(lib, 'images'), logDir, cache]) {
    mkdirSync(sub, {recursive: true})
  }
  writeFileSync(path.join(etc, 'libvirtd.conf'), LIBVIRTD_CONF)
  writeFileSync(path.join(etc, 'qemu.conf'), QEMU_CONF)
  writeFileSync(path.join(etc, 'virtlogd.conf'), 'log_outputs = "3:file:/var/log/libvirt/virtlogd.log"\n')
  writeFileSync(path.join(etc, 'libvirt.conf'), '')
  const socketPath = path.join(runDir, 'libvirt-sock')
  const uri = `qemu:///system?socket=${socketPath}`
  const virtlogdPidFile = path.join(dir, 'virtlogd.pid')

  let subnet: Subnet | undefined
  let natAdded = false
  let libvirtdPid = 0
  let virtlogdPid = 0
  const virshSync = (args: readonly string[]) => sh(['virsh', '-c', uri, ...args], 60_000)

  /** Synchronous and idempotent, so it also serves as the last-resort teardown at process exit. */
  const destroy = () => {
    if (libvirtdPid && isAlive(libvirtdPid)) {
      // Domains first (QEMU), then networks (dnsmasq, iptables chains), then pools; everything by name.
      const domains = virshSync(['list', '--all', '--name'])
      for (const name of domains.ok ? domains.output.split('\n').map((line) => line.trim()).filter(Boolean) : []) {
        virshSync(['destroy', name])
        virshSync(['undefine', '--snapshots-metadata', '--nvram', name])
      }
      const networks = virshSync(['net-list', '--all', '--name'])
      for (const name of networks.ok ? networks.output.split('\n').map((line) => line.trim()).filter(Boolean) : []) {
        virshSync(['net-destroy', name])
        virshSync(['net-undefine', name])
      }
      const pools = virshSync(['pool-list', '--all', '--name'])
      for (const name of pools.ok ? pools.output.split('\n').map((line) => line.trim()).filter(Boolean) : []) {
        virshSync(['pool-destroy', name])
        virshSync(['pool-undefine', name])
      }
    }
    // The daemons, then anything else still in the namespace (a leftover QEMU or dnsmasq, vagrant-libvirt's
    // port-forwarding ssh processes, a CLI run cut off by a failing test): all started by this harness.
    killAll(() => [libvirtdPid, virtlogdPid].filter((pid) => pid > 0 && isAlive(pid)), 10_000)
    if (subnet) {
      const netns = subnet.netns
      killAll(() => pidsInNetns(netns), 5_000)
      releaseSubnet(subnet, natAdded)
      if (natAdded) restoreForwarding(ANY_TEST_NETNS)
      natAdded = false
      subnet = undefined
    }
    if (existsSync(dir)) removeTreeSync(dir)
  }
  const unregister = registerTeardown(destroy)

  try {
    subnet = claimSubnet(SUBNETS)
    writeOwner(dir, {pid: process.pid, netns: subnet.netns, hostVeth: subnet.hostVeth, cidr: subnet.cidr})
    linkSubnet(subnet, 'lv0')
    if (internet) {
      addNat(subnet)
      natAdded = true
    }

    // `ip netns exec` gives the command a mount namespace of its own (with /sys for the namespace); the binds
    // made in it stay there. virtlogd first (libvirtd hands QEMU's output to it), then libvirtd, whose PID is
    // the spawned process's (exec).
    // /run gets a tmpfs of its own there, so /run/libvirt need not exist on the host; the other mount points
    // are the libvirt packages' own directories.
    const binds: Array<[string, string]> = [
      [etc, '/etc/libvirt'],
      [runDir, '/run/libvirt'],
      [lib, '/var/lib/libvirt'],
      [logDir, '/var/log/libvirt'],
      [cache, '/var/cache/libvirt'],
    ]
    const script = [
      'set -e',
      'mount -t tmpfs -o mode=0755 chaos-lab-run /run',
      'mkdir -p /run/libvirt',
      ...binds.map(([from, to]) => `mount --bind '${from}' '${to}'`),
      `virtlogd -f /etc/libvirt/virtlogd.conf & echo $! > '${virtlogdPidFile}'`,
      'exec libvirtd -f /etc/libvirt/libvirtd.conf',
    ].join('\n')
    const outFd = openSync(path.join(logDir, 'daemons.out'), 'a')
    const child = spawn('ip', ['netns', 'exec', subnet.netns, 'sh', '-c', script], {stdio: ['ignore', outFd, outFd], detached: true})
    closeSync(outFd)
    child.unref()
    if (child.pid === undefined) throw new Error('libvirtd did not start')
    libvirtdPid = child.pid
    let exited: string | undefined
    child.on('exit', (code, signal) => {
      exited = `libvirtd exited (${code ?? signal ?? '?'})`
    })

    const started = Date.now()
    for (;;) {
      if (!virtlogdPid && existsSync(virtlogdPidFile)) virtlogdPid = Number.parseInt(readFileSync(virtlogdPidFile, 'utf8'), 10) || 0
      if (exited) throw new Error(`${exited}:\n${readTail(path.join(logDir, 'daemons.out'), 20)}\n${readTail(path.join(logDir, 'libvirtd.log'), 20)}`)
      if (existsSync(socketPath)) {
        const probe = await run('virsh', ['-c', uri, 'version'], {timeoutMs: 30_000})
        if (probe.code === 0) break
      }
      if (Date.now() - started > READY_TIMEOUT_MS) {
        throw new Error(`libvirtd did not answer within ${READY_TIMEOUT_MS / 1000} s:\n${readTail(path.join(logDir, 'libvirtd.log'), 20)}`)
      }
      await sleep(250)
    }
    log(`libvirtd ${libvirtdPid} and virtlogd ${virtlogdPid} answer at ${socketPath} (${((Date.now() - started) / 1000).toFixed(1)} s)`)

    // The pool vagrant-libvirt looks for; its path is libvirtd's view of <dir>/lib/images.
    const pool = 'default'
    shOk(['virsh', '-c', uri, 'pool-define-as', pool, 'dir', '--target', '/var/lib/libvirt/images'])
    shOk(['virsh', '-c', uri, 'pool-start', pool])

    const netns = subnet.netns
    const host: LibvirtHost = {
      dir,
      socketPath,
      uri,
      netns,
      poolDir: path.join(lib, 'images'),
      pool,
      libvirtdPid,
      virtlogdPid,
      wrap: (file, args) => ['ip', ['netns', 'exec', netns, file, ...args]],
      virsh: (args, timeoutMs = VIRSH_TIMEOUT_MS) => run('virsh', ['-c', uri, ...args], {timeoutMs}),
      domains: async () => names(await host.virsh(['list', '--all', '--name'])),
      volumes: async (poolName = pool) => names(await host.virsh(['vol-list', '--pool', poolName]), true),
      networks: async () => names(await host.virsh(['net-list', '--all', '--name'])),
      diagnostics: (lines = 25) => {
        const parts = [`--- libvirtd.log\n${readTail(path.join(logDir, 'libvirtd.log'), lines)}`]
        const qemuLogs = path.join(logDir, 'qemu')
        for (const name of existsSync(qemuLogs) ? spawnSync('ls', [qemuLogs], {encoding: 'utf8'}).stdout.split('\n').filter(Boolean) : []) {
          parts.push(`--- qemu/${name}\n${readTail(path.join(qemuLogs, name), lines)}`)
        }
        return parts.join('\n')
      },
      stop: async () => {
        destroy()
        unregister()
        await Promise.resolve()
      },
    }
    return host
  } catch (error) {
    destroy()
    unregister()
    throw error
  }
}

interface Owner {
  pid: number
  netns: string
  hostVeth: string
  cidr: string
}

function writeOwner(dir: string, owner: Owner): void {
  writeFileSync(path.join(dir, OWNER_FILE), `${JSON.stringify(owner)}\n`)
}

/**
 * Removes what a run that died without its teardown (SIGKILL, a crashed machine) left: for each scratch
 * directory whose owner process is gone, every process in its network namespace (its libvirtd, QEMU,
 * dnsmasq), its MASQUERADE rule, veth, namespace and files. Only this harness's own names are touched.
 */
function sweepStale(log: (line: string) => void): void {
  let entries: string[] = []
  try {
    entries = readdirSync(os.tmpdir()).filter((name) => name.startsWith(DIR_PREFIX))
  } catch {
    return
  }
  for (const name of entries) {
    const dir = path.join(os.tmpdir(), name)
    let owner: Owner
    try {
      owner = JSON.parse(readFileSync(path.join(dir, OWNER_FILE), 'utf8')) as Owner
    } catch {
      continue // Not ours, or still being set up.
    }
    if (isAlive(owner.pid) || !owner.netns.startsWith(NETNS_PREFIX) || !new RegExp(`^${SUBNETS.vethPrefix}\\d+$`).test(owner.hostVeth)) continue
    log(`libvirt: removing what the dead run ${owner.pid} left (${owner.netns}, ${dir})`)
    killAll(() => pidsInNetns(owner.netns), 5_000)
    // Its rule only if it is there (the run may have had no route out).
    releaseSubnet(owner, sh(['iptables', '-t', 'nat', '-C', ...natRule(owner)]).ok)
    restoreForwarding(ANY_TEST_NETNS)
    removeTreeSync(dir)
  }
}

/** Names from `virsh ... --name` output, or the first column of a `vol-list` table. */
function names(result: RunResult, table = false): string[] {
  if (result.code !== 0) throw new Error(`virsh failed (${result.code ?? 'killed'}): ${result.stderr.trim()}`)
  const lines = result.stdout.split('\n').map((line) => line.trim()).filter(Boolean)
  if (!table) return lines
  // " Name   Path" header, a dashed rule, then rows.
  return lines.filter((line) => !/^Name\s/.test(line) && !/^-+$/.test(line)).map((line) => line.split(/\s+/)[0] ?? '').filter(Boolean)
}
