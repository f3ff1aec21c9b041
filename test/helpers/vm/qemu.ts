import {existsSync, mkdtempSync, readFileSync} from 'node:fs'
import {createServer} from 'node:net'
import os from 'node:os'
import path from 'node:path'

import {registerTeardown} from './cleanup.js'
import {markImageUsed, type Arch, type TestImage} from './image.js'
import {cmdlineOf, isAlive, readTail, removeTreeSync, run, runOk, waitForExit} from './run.js'
import {type SshEndpoint, type SshOptions, type SshResult, closeSharedConnections, sshExec, waitForSsh} from './ssh.js'

/** What bootVm() needs of an image: the base test image or one derived from it (the desktop image). */
export type BootableImage = Pick<TestImage, 'dir' | 'diskPath' | 'kernelPath' | 'initrdPath' | 'privateKeyPath'> & {
  /** Default amd64. */
  arch?: Arch
}

export interface BootVmOptions {
  image: BootableImage
  /** Guest memory; default 1024 MB (the OOM lesson's mystery001 is killed in well under a minute). */
  memoryMb?: number
  /** Default 2. */
  cpus?: number
  /** Shown in errors and used in the scratch directory's name. Default 'vm'. */
  name?: string
  /**
   * How long to wait for SSH after launch; default 300 s. TCG boots in about 30 s on 2 idle cores, but
   * several times slower when other work shares them (148 s measured with a load average of 9).
   */
  bootTimeoutMs?: number
  /**
   * A screen: a standard VGA card (the guest's bochs-drm driver; Xorg's modesetting driver runs on it) and
   * QEMU's human monitor on a unix socket, for screendump(). Default false (no display device at all).
   */
  display?: boolean
  /**
   * A SPICE server on a unix socket with the `spicevmc` agent channel (virtio-serial port com.redhat.spice.0),
   * as libvirt gives a guest with SPICE graphics: what spice-vdagentd and spice-vdagent in the guest talk to.
   */
  spiceAgent?: boolean
}

export interface RunningVm extends SshEndpoint {
  host: '127.0.0.1'
  /** The host port forwarded to the guest's port 22. */
  port: number
  user: 'admin'
  identityFile: string
  /** Scratch directory: the qcow2 overlay, the pidfile, the serial log. Removed by stop(). */
  dir: string
  /** The guest's serial console (kernel and systemd boot messages). */
  serialLog: string
  /** QEMU's PID (from its pidfile). */
  pid: number
  /** Milliseconds from launching QEMU to the first successful SSH login. */
  bootMs: number
  /** QEMU's human monitor (a unix socket), with options.display. */
  monitorSocket?: string
  /** Runs a command over SSH (openssh client) as admin, or as options.user. */
  ssh(command: string, options?: SshOptions): Promise<SshResult>
  /** Simulates a crash: SIGKILLs QEMU at once. The scratch directory stays until stop(). */
  kill(): void
  /** Ends QEMU (SIGTERM, then SIGKILL after 5 s) and removes the scratch directory. Safe to call twice. */
  stop(): Promise<void>
}

/** A free TCP port on 127.0.0.1 (QEMU binds it a moment later; bootVm retries on a lost race). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port)
        else reject(new Error('no port'))
      })
    })
  })
}

/** The emulator and machine for an architecture, and the kernel's console there. */
interface Machine {
  binary: string
  args: string[]
  console: string
}

/**
 * amd64: QEMU's default PC, TCG unless CHAOS_LAB_TEST_KVM=1. arm64: the generic "virt" board with a Cortex-A72
 * (an Armv8.0 core: TCG emulates it faster than `max`, whose pointer authentication is costly to emulate) and
 * direct kernel boot, so no UEFI firmware is needed; always TCG on this x86-64 host.
 */
export function machineFor(arch: Arch): Machine {
  if (arch === 'arm64') return {binary: 'qemu-system-aarch64', args: ['-machine', 'virt', '-cpu', 'cortex-a72', '-accel', 'tcg'], console: 'ttyAMA0'}
  if (process.env.CHAOS_LAB_TEST_KVM === '1') {
    if (!existsSync('/dev/kvm')) throw new Error('CHAOS_LAB_TEST_KVM=1 but /dev/kvm does not exist.')
    return {binary: 'qemu-system-x86_64', args: ['-accel', 'kvm', '-cpu', 'host'], console: 'ttyS0'}
  }
  return {binary: 'qemu-system-x86_64', args: ['-accel', 'tcg'], console: 'ttyS0'}
}

/** SIGKILLs our QEMU, checking first that the PID still belongs to it (its command line names our dir). */
function killOurs(pid: number, dir: string, signal: NodeJS.Signals): void {
  if (!isAlive(pid) || !cmdlineOf(pid).includes(dir)) return
  try {
    process.kill(pid, signal)
  } catch {
    // Gone already.
  }
}

/** SIGKILLs a VM's QEMU (a crash, as far as the guest and chaos-lab can tell). */
export function killVm(vm: RunningVm): void {
  vm.kill()
}

/**
 * Boots the image under QEMU (TCG unless CHAOS_LAB_TEST_KVM=1) with a qcow2 overlay over the cached raw
 * disk, SSH forwarded from a free 127.0.0.1 port, and waits until admin can log in with the image's key.
 */
export async function bootVm(options: BootVmOptions): Promise<RunningVm> {
  const {image, memoryMb = 1024, cpus = 2, name = 'vm', bootTimeoutMs = 300_000, display = false, spiceAgent = false} = options
  const machine = machineFor(image.arch ?? 'amd64')
  markImageUsed(image)
  const dir = mkdtempSync(path.join(os.tmpdir(), `chaos-lab-vm-${name.replace(/[^A-Za-z0-9_-]/g, '_')}-`))
  const overlay = path.join(dir, 'disk.qcow2')
  const pidFile = path.join(dir, 'qemu.pid')
  const serialLog = path.join(dir, 'serial.log')
  const monitorSocket = display ? path.join(dir, 'monitor.sock') : undefined
  const screen = monitorSocket ? ['-device', 'VGA,vgamem_mb=16', '-monitor', `unix:${monitorSocket},server=on,wait=off`] : []
  const spice = spiceAgent
    ? [
        '-spice', `unix=on,addr=${path.join(dir, 'spice.sock')},disable-ticketing=on`,
        '-device', 'virtio-serial-pci',
        '-chardev', 'spicevmc,id=vdagent,name=vdagent',
        '-device', 'virtserialport,chardev=vdagent,name=com.redhat.spice.0',
      ]
    : []
  let pid = 0
  let endpoint: SshEndpoint | undefined
  const unregister = registerTeardown(() => {
    if (endpoint) closeSharedConnections(endpoint)
    if (pid) killOurs(pid, dir, 'SIGKILL')
    removeTreeSync(dir)
  })

  try {
    await runOk('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', image.diskPath, overlay], {timeoutMs: 30_000})
    let port = 0
    let launchedAt = 0
    for (let attempt = 1; ; attempt++) {
      port = await freePort()
      launchedAt = Date.now()
      const result = await run(
        machine.binary,
        [
          '-name', name,
          ...machine.args,
          '-nodefaults', '-no-user-config', '-no-reboot',
          '-m', String(memoryMb),
          '-smp', String(cpus),
          '-kernel', image.kernelPath,
          '-initrd', image.initrdPath,
          '-append', `root=/dev/vda rw console=${machine.console} panic=1 mitigations=off systemd.show_status=1`,
          '-drive', `file=${overlay},if=virtio,format=qcow2,discard=unmap,cache=unsafe`, // a throwaway disk: no fsync round trips
          '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`,
          '-device', 'virtio-net-pci,netdev=n0',
          '-device', 'virtio-rng-pci',
          '-serial', `file:${serialLog}`,
          ...screen,
          ...spice,
          '-display', 'none',
          '-daemonize',
          '-pidfile', pidFile,
        ],
        {timeoutMs: 60_000},
      )
      if (result.code === 0) break
      const lostRace = /hostfwd|host forwarding|Could not set up/i.test(result.stderr)
      if (!lostRace || attempt >= 5) {
        throw new Error(`${machine.binary} failed to start (exit ${result.code ?? 'killed'}):\n${result.stderr}`)
      }
    }
    pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10)
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`QEMU wrote no usable PID to ${pidFile}`)

    const ready: SshEndpoint = {host: '127.0.0.1', port, user: 'admin', identityFile: image.privateKeyPath, name, controlDir: dir}
    endpoint = ready
    try {
      await waitForSsh(ready, {
        timeoutMs: bootTimeoutMs,
        failure: () => (isAlive(pid) ? undefined : 'QEMU exited'),
      })
    } catch (error) {
      throw new Error(`${(error as Error).message}\nLast lines of the serial console (${serialLog}):\n${readTail(serialLog, 30)}`, {
        cause: error,
      })
    }
    const bootMs = Date.now() - launchedAt

    let stopped = false
    const vm: RunningVm = {
      host: '127.0.0.1',
      port,
      user: 'admin',
      identityFile: image.privateKeyPath,
      name,
      dir,
      serialLog,
      pid,
      bootMs,
      ...(monitorSocket ? {monitorSocket} : {}),
      controlDir: dir,
      ssh: (command, sshOptions) => sshExec(ready, command, sshOptions),
      kill: () => {
        killOurs(pid, dir, 'SIGKILL')
      },
      stop: async () => {
        if (stopped) return
        stopped = true
        closeSharedConnections(ready)
        killOurs(pid, dir, 'SIGTERM')
        if (!(await waitForExit(pid, 5000))) killOurs(pid, dir, 'SIGKILL')
        await waitForExit(pid, 5000)
        removeTreeSync(dir)
        unregister()
      },
    }
    return vm
  } catch (error) {
    if (endpoint) closeSharedConnections(endpoint)
    if (pid) killOurs(pid, dir, 'SIGKILL')
    if (pid) await waitForExit(pid, 5000)
    removeTreeSync(dir)
    unregister()
    throw error
  }
}
