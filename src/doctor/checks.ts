import {existsSync} from 'node:fs'
import {isAbsolute, join, resolve, win32} from 'node:path'

import {labPaths} from '../config/lab-folder.js'
import {DEFAULT_BOX, type LabConfig} from '../config/schema.js'
import {errorMessage} from '../errors.js'
import {CommandNotFoundError, type ProcessRunner, type RunResult} from '../process/runner.js'
import {VAGRANT_INSTALL_HINT} from '../providers/vagrant.js'
import {expandHome} from '../util/paths.js'
import type {HostFacts} from './host-facts.js'

export type DoctorStatus = 'ok' | 'warn' | 'fail'

/** One line of the doctor's report. `fix` is empty when there is nothing to do. */
export interface DoctorItem {
  id: string
  title: string
  status: DoctorStatus
  /** What was found. */
  detail: string
  /** What to do about it (empty for ok). */
  fix: string
}

export interface DoctorContext {
  config: LabConfig
  /** Absolute lab folder. */
  dir: string
  runner: ProcessRunner
  host: HostFacts
  env: NodeJS.ProcessEnv
}

/** Free disk below this fails (a box and a VM disk will not fit); below RECOMMENDED_DISK_MB it warns. */
export const MIN_DISK_MB = 5 * 1024
export const RECOMMENDED_DISK_MB = 10 * 1024
/** Memory the host keeps for itself beyond the VM's, below which the doctor warns. */
export const HOST_RESERVE_MB = 1024
const TIMEOUT_MS = 60_000

export const INSTALL_HINTS = {
  vagrant: VAGRANT_INSTALL_HINT,
  virtualbox: 'Install VirtualBox 7 (https://www.virtualbox.org/wiki/Downloads), then run `chaos-lab doctor` again. On Linux you can use libvirt instead: set provider: libvirt in chaos-lab.yaml.',
  libvirt: 'Install libvirt and QEMU (Debian/Ubuntu: `sudo apt-get install libvirt-daemon-system libvirt-clients qemu-system-x86`; Fedora: `sudo dnf install @virtualization`), then run `chaos-lab doctor` again.',
  vagrantLibvirt: 'Install the vagrant-libvirt plugin (Debian/Ubuntu: `sudo apt-get install vagrant-libvirt`; elsewhere: `vagrant plugin install vagrant-libvirt`).',
} as const

const item = (id: string, title: string, status: DoctorStatus, detail: string, fix = ''): DoctorItem => ({id, title, status, detail, fix: status === 'ok' ? '' : fix})

/** "2.3.4" → [2, 3, 4]; undefined when the text holds no version. */
export function parseVersion(text: string): number[] | undefined {
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text)
  return match ? [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)] : undefined
}

export function versionAtLeast(version: readonly number[], minimum: readonly number[]): boolean {
  for (let i = 0; i < minimum.length; i++) {
    const a = version[i] ?? 0
    const b = minimum[i] ?? 0
    if (a !== b) return a > b
  }
  return true
}

type Probe = {kind: 'ran'; result: RunResult} | {kind: 'missing'} | {kind: 'error'; message: string}

/** Runs a program through the runner; a missing program or a failure to start becomes a value, not a throw. */
export async function probe(runner: ProcessRunner, command: string, args: readonly string[], env?: Record<string, string>): Promise<Probe> {
  try {
    return {kind: 'ran', result: await runner.run(command, args, {timeoutMs: TIMEOUT_MS, ...(env ? {env} : {})})}
  } catch (error) {
    if (error instanceof CommandNotFoundError) return {kind: 'missing'}
    return {kind: 'error', message: errorMessage(error)}
  }
}

function lastLine(result: RunResult): string {
  const lines = `${result.stdout}\n${result.stderr}`.split('\n').map((l) => l.trim()).filter(Boolean)
  return lines.at(-1) ?? `exit code ${result.exitCode}`
}

export function configItem(config: LabConfig, file: string | undefined): DoctorItem {
  const summary = `provider ${config.provider}, profile ${config.profile}, ${config.vm.memory} MB, ${config.vm.cpus} CPUs`
  return file
    ? item('config', 'Lab config', 'ok', `${file} is valid: ${summary}`)
    : item('config', 'Lab config', 'warn', `No chaos-lab.yaml here; checked the book's defaults (${summary})`, 'Run `chaos-lab init` to write chaos-lab.yaml, or pass --dir with your lab folder.')
}

export interface VagrantFound {
  item: DoctorItem
  version: number[] | undefined
}

export function vagrantItem(found: Probe): VagrantFound {
  const title = 'Vagrant'
  if (found.kind === 'missing') return {item: item('vagrant', title, 'fail', '`vagrant` is not on PATH', INSTALL_HINTS.vagrant), version: undefined}
  if (found.kind === 'error') return {item: item('vagrant', title, 'fail', `\`vagrant --version\` could not run: ${found.message}`, INSTALL_HINTS.vagrant), version: undefined}
  const version = parseVersion(found.result.stdout)
  if (found.result.exitCode !== 0 || !version) {
    return {item: item('vagrant', title, 'fail', `\`vagrant --version\` failed: ${lastLine(found.result)}`, `Repair the Vagrant installation. ${INSTALL_HINTS.vagrant}`), version: undefined}
  }
  const text = version.join('.')
  if (!versionAtLeast(version, [2, 2])) {
    return {item: item('vagrant', title, 'warn', `Vagrant ${text} is older than 2.2`, 'Upgrade Vagrant to 2.4 or later.'), version}
  }
  return {item: item('vagrant', title, 'ok', `Vagrant ${text}`), version}
}

/** VBoxManage is rarely on PATH on Windows; Vagrant looks in VirtualBox's install folder too, and so do we. */
export function vboxManageCandidates(host: HostFacts, env: NodeJS.ProcessEnv): string[] {
  const candidates = ['VBoxManage']
  if (host.platform === 'win32') {
    for (const dir of [env.VBOX_MSI_INSTALL_PATH, env.VBOX_INSTALL_PATH]) if (dir) candidates.push(win32.join(dir, 'VBoxManage.exe'))
  }
  return candidates
}

export async function virtualboxItem(ctx: DoctorContext): Promise<DoctorItem> {
  const title = 'VirtualBox'
  let found: Probe = {kind: 'missing'}
  for (const command of vboxManageCandidates(ctx.host, ctx.env)) {
    found = await probe(ctx.runner, command, ['--version'])
    if (found.kind !== 'missing') break
  }
  if (found.kind === 'missing') return item('virtualbox', title, 'fail', '`VBoxManage` (VirtualBox) is not on PATH', INSTALL_HINTS.virtualbox)
  if (found.kind === 'error') return item('virtualbox', title, 'fail', `\`VBoxManage --version\` could not run: ${found.message}`, INSTALL_HINTS.virtualbox)
  const output = `${found.result.stdout}\n${found.result.stderr}`
  if (/vboxdrv/i.test(output)) {
    return item('virtualbox', title, 'fail', 'VirtualBox\'s kernel driver (vboxdrv) is not loaded', 'Run `sudo /sbin/vboxconfig` (on Secure Boot machines, sign or allow the module first), then run `chaos-lab doctor` again.')
  }
  const version = parseVersion(found.result.stdout)
  if (found.result.exitCode !== 0 || !version) {
    return item('virtualbox', title, 'fail', `\`VBoxManage --version\` failed: ${lastLine(found.result)}`, `Repair the VirtualBox installation. ${INSTALL_HINTS.virtualbox}`)
  }
  const text = version.join('.')
  if (ctx.host.platform === 'darwin' && ctx.host.arch === 'arm64' && !versionAtLeast(version, [7, 1])) {
    return item('virtualbox', title, 'fail', `VirtualBox ${text} does not run VMs on Apple Silicon (7.1 is the first that does)`, 'Install VirtualBox 7.1 or later for macOS / Apple Silicon hosts (https://www.virtualbox.org/wiki/Downloads).')
  }
  if (!versionAtLeast(version, [6, 1])) {
    return item('virtualbox', title, 'warn', `VirtualBox ${text} is old: the VMSVGA controller and --clipboard-mode need 6.1 or later`, 'Upgrade to VirtualBox 7.')
  }
  return item('virtualbox', title, 'ok', `VirtualBox ${text}`)
}

export function virshItem(found: Probe): DoctorItem {
  const title = 'libvirt client (virsh)'
  if (found.kind === 'missing') return item('virsh', title, 'fail', '`virsh` is not on PATH', INSTALL_HINTS.libvirt)
  if (found.kind === 'error') return item('virsh', title, 'fail', `\`virsh --version\` could not run: ${found.message}`, INSTALL_HINTS.libvirt)
  const version = parseVersion(found.result.stdout)
  if (found.result.exitCode !== 0 || !version) return item('virsh', title, 'fail', `\`virsh --version\` failed: ${lastLine(found.result)}`, INSTALL_HINTS.libvirt)
  return item('virsh', title, 'ok', `virsh ${version.join('.')}`)
}

export function vagrantLibvirtItem(vagrant: Probe, plugins: Probe | undefined): DoctorItem {
  const title = 'vagrant-libvirt plugin'
  if (vagrant.kind !== 'ran' || !plugins) return item('vagrant-libvirt', title, 'fail', 'Not checked: Vagrant is missing', `${INSTALL_HINTS.vagrant} ${INSTALL_HINTS.vagrantLibvirt}`)
  if (plugins.kind !== 'ran' || plugins.result.exitCode !== 0) {
    const why = plugins.kind === 'ran' ? lastLine(plugins.result) : plugins.kind === 'error' ? plugins.message : 'vagrant is missing'
    return item('vagrant-libvirt', title, 'fail', `\`vagrant plugin list\` failed: ${why}`, 'Run `vagrant plugin list` to see what is wrong; `vagrant plugin repair` often fixes it.')
  }
  const match = /^vagrant-libvirt \(([^,)]+)/m.exec(plugins.result.stdout)
  if (!match) return item('vagrant-libvirt', title, 'fail', 'vagrant-libvirt is not among Vagrant\'s plugins', INSTALL_HINTS.vagrantLibvirt)
  return item('vagrant-libvirt', title, 'ok', `vagrant-libvirt ${match[1] ?? ''}`.trim())
}

/**
 * Whether a libvirt URI names the per-user session daemon (qemu:///session, qemu+ssh://host/session) rather than
 * the system one. Only the URI's path counts, not its query: qemu:///session?socket=/run/x is a session URI,
 * qemu:///system?socket=/run/x/session is not.
 */
export function isSessionUri(uri: string): boolean {
  const beforeQuery = uri.split(/[?#]/, 1)[0] ?? ''
  // driver[+transport]://[user@][host][:port]/path
  const path = beforeQuery.replace(/^[^:/?#]+:\/\/[^/]*/, '')
  // libvirt's QEMU driver takes the path as it is: /session or /system, nothing else.
  return path === '/session'
}

export function libvirtdItem(config: LabConfig, virsh: Probe, connect: Probe | undefined): DoctorItem {
  const uri = config.libvirt.uri
  const title = `libvirt daemon (${uri})`
  if (virsh.kind !== 'ran' || !connect) return item('libvirtd', title, 'fail', 'Not checked: virsh is missing', INSTALL_HINTS.libvirt)
  if (connect.kind !== 'ran') {
    return item('libvirtd', title, 'fail', `\`virsh -c ${uri} version\` could not run: ${connect.kind === 'error' ? connect.message : 'virsh is missing'}`, INSTALL_HINTS.libvirt)
  }
  if (connect.result.exitCode !== 0) {
    const why = lastLine(connect.result)
    const denied = /permission denied|authentication|not authorized/i.test(why)
    const fix = denied
      ? 'Add yourself to the libvirt group (`sudo usermod -aG libvirt $USER`), log out and in, then run `chaos-lab doctor` again.'
      : isSessionUri(uri)
        ? `Check that libvirt's session daemon can start for your user (\`virsh -c ${uri} version\`).`
        : 'Start libvirt: `sudo systemctl enable --now libvirtd` (or virtqemud on newer systems), then run `chaos-lab doctor` again.'
    return item('libvirtd', title, 'fail', `libvirt does not answer: ${why}`, fix)
  }
  const hypervisor = /Running hypervisor:\s*(.+)/.exec(connect.result.stdout)?.[1]?.trim()
  return item('libvirtd', title, 'ok', hypervisor ? `libvirt answers (${hypervisor})` : 'libvirt answers')
}

const HW_FLAGS = ['vmx', 'svm', 'hv_support']

/** VirtualBox needs VT-x/AMD-V (or Apple's Hypervisor framework); libvirt needs /dev/kvm unless the driver is qemu. */
export async function virtualizationItem(ctx: DoctorContext): Promise<DoctorItem> {
  const {config, host} = ctx
  if (config.provider === 'libvirt') {
    const title = 'Hardware virtualization (KVM)'
    const kvm = await host.kvm()
    if (config.libvirt.driver === 'qemu') {
      return item('virtualization', title, 'ok', kvm === 'usable'
        ? 'driver qemu emulates the CPU in software; /dev/kvm is usable, so driver kvm would be faster where KVM works'
        : `driver qemu emulates the CPU in software, so no KVM is needed (/dev/kvm is ${kvm === 'missing' ? 'missing' : 'not usable by you'}); expect a slow VM`)
    }
    if (kvm === 'usable') return item('virtualization', title, 'ok', '/dev/kvm is usable: driver kvm runs the VM with hardware virtualization')
    const qemuFix = 'Set `libvirt:` `driver: qemu` in chaos-lab.yaml (software emulation: slower, but needs no KVM)'
    if (kvm === 'denied') {
      // With qemu:///system it is libvirt's QEMU user, not you, who opens /dev/kvm.
      const system = !isSessionUri(config.libvirt.uri)
      return item('virtualization', title, system ? 'warn' : 'fail', `/dev/kvm exists but you cannot open it${system ? '; libvirt\'s own QEMU user may still be able to' : ''}`,
        `Add yourself to the kvm group (\`sudo usermod -aG kvm $USER\`, then log out and in). If \`vagrant up\` then fails with a KVM error: ${qemuFix}.`)
    }
    return item('virtualization', title, 'fail', '/dev/kvm is missing: this computer offers no KVM, so driver kvm cannot run the VM; the driver must be qemu',
      `${qemuFix}, or enable virtualization (VT-x/AMD-V) in the firmware and load the kvm module.`)
  }
  const title = 'Hardware virtualization (VT-x/AMD-V)'
  const flags = await host.cpuFlags()
  if (!flags) {
    return item('virtualization', title, 'warn', 'Could not tell whether the CPU offers hardware virtualization',
      'If VirtualBox reports that VT-x/AMD-V is not available, enable virtualization in the firmware (BIOS/UEFI); on Windows also turn off Hyper-V or use VirtualBox 7.')
  }
  const found = HW_FLAGS.find((flag) => flags.includes(flag))
  if (found) return item('virtualization', title, 'ok', `the CPU offers hardware virtualization (${found === 'hv_support' ? 'Hypervisor framework' : found})`)
  if (host.arch === 'arm64' && host.platform === 'linux') {
    return item('virtualization', title, 'warn', 'ARM Linux host: VirtualBox does not run here', 'Use provider libvirt on ARM Linux.')
  }
  return item('virtualization', title, 'fail', 'The CPU offers no hardware virtualization (no vmx or svm flag), which VirtualBox needs',
    'Enable virtualization (VT-x/AMD-V) in the firmware (BIOS/UEFI); inside a cloud or nested VM, enable nested virtualization or use provider libvirt with driver qemu.')
}

export function memoryItem(config: LabConfig, host: HostFacts): DoctorItem {
  const wanted = config.vm.memory
  const total = host.totalMemoryMb()
  const free = host.freeMemoryMb()
  const title = 'Memory'
  const lower = `Lower \`memory\` in chaos-lab.yaml (the book's VM has 4096 MB; 2048 works for most lessons)`
  if (total < wanted) return item('memory', title, 'fail', `the VM wants ${wanted} MB but this computer has only ${total} MB`, `${lower}.`)
  if (free < wanted) return item('memory', title, 'warn', `the VM wants ${wanted} MB; ${free} MB is free now (of ${total} MB)`, `Close programs to free memory, or ${lower.charAt(0).toLowerCase()}${lower.slice(1)}.`)
  if (total - wanted < HOST_RESERVE_MB) return item('memory', title, 'warn', `the VM wants ${wanted} MB of ${total} MB, leaving the host less than ${HOST_RESERVE_MB} MB`, `${lower}.`)
  return item('memory', title, 'ok', `the VM wants ${wanted} MB; ${free} MB free of ${total} MB`)
}

export async function diskItem(dir: string, host: HostFacts): Promise<DoctorItem> {
  const free = await host.freeDiskMb(dir)
  const title = 'Free disk'
  const gb = (mb: number) => `${(mb / 1024).toFixed(1)} GB`
  const fix = `Free disk space: the base box and the VM's disk need about ${gb(RECOMMENDED_DISK_MB)} (boxes live under ~/.vagrant.d, VM disks in the provider's folder).`
  if (free === undefined) return item('disk', title, 'warn', `Could not read the free space at ${dir}`, fix)
  if (free < MIN_DISK_MB) return item('disk', title, 'fail', `${gb(free)} free at ${dir}; the VM needs about ${gb(RECOMMENDED_DISK_MB)}`, fix)
  if (free < RECOMMENDED_DISK_MB) return item('disk', title, 'warn', `${gb(free)} free at ${dir}; about ${gb(RECOMMENDED_DISK_MB)} is recommended`, fix)
  return item('disk', title, 'ok', `${gb(free)} free at ${dir}`)
}

/** True when Vagrant has created this lab's machine (then a busy port may be the VM's own forwarding). */
export function machineCreated(dir: string, provider: string): boolean {
  return existsSync(join(labPaths(dir).vagrantMachineDir, provider, 'id'))
}

export async function portItem(ctx: DoctorContext): Promise<DoctorItem> {
  const port = ctx.config.forwardedPort
  const title = `Host port ${port} (FizzBuzz)`
  const state = await ctx.host.port(port, '127.0.0.1')
  const choose = 'set `forwardedPort` in chaos-lab.yaml to a free port above 1023'
  if (state === 'free') return item('port', title, 'ok', `127.0.0.1:${port} is free`)
  if (state === 'denied') return item('port', title, 'fail', `you may not listen on 127.0.0.1:${port} (ports below 1024 need administrator rights)`, `${choose.charAt(0).toUpperCase()}${choose.slice(1)}.`)
  if (machineCreated(ctx.dir, ctx.config.provider)) {
    return item('port', title, 'warn', `127.0.0.1:${port} is in use, probably by this lab's own VM`, `If \`chaos-lab status\` says the VM is not running, stop the program that uses port ${port} or ${choose}.`)
  }
  return item('port', title, 'fail', `127.0.0.1:${port} is in use by another program, so Vagrant cannot forward it`,
    `Stop the program that uses it (see \`ss -ltnp\` on Linux, \`lsof -nP -iTCP:${port}\` on macOS) or ${choose}.`)
}

/** The host's architecture: an ARM host needs an arm64 box and a Vagrant that picks boxes by architecture. */
export function architectureItem(config: LabConfig, host: HostFacts, vagrantVersion: number[] | undefined): DoctorItem {
  const title = 'Host architecture'
  if (host.arch === 'x64') return item('arch', title, 'ok', `x86-64 host: box ${config.box} (amd64)`)
  if (host.arch !== 'arm64') {
    return item('arch', title, 'fail', `${host.arch} host: the lab boxes are built for x86-64 and arm64 only`, 'Use an x86-64 or arm64 (Apple Silicon) computer, or provider ssh with an existing Ubuntu host.')
  }
  const knownArm = config.provider === 'virtualbox' && config.box === DEFAULT_BOX.virtualbox
  const boxNote = knownArm
    ? `box ${config.box} has an arm64 build`
    : `make sure box ${config.box} has an arm64 build for ${config.provider}`
  if (vagrantVersion && !versionAtLeast(vagrantVersion, [2, 4])) {
    return item('arch', title, 'fail', `ARM (arm64) host with Vagrant ${vagrantVersion.join('.')}: only Vagrant 2.4 or later picks a box's arm64 build, so the amd64 one would be used`,
      `Install Vagrant 2.4 or later. ${knownArm ? `Keep box ${DEFAULT_BOX.virtualbox}` : `Use box ${DEFAULT_BOX.virtualbox} with provider virtualbox`}, which has an arm64 build.`)
  }
  if (!knownArm) {
    return item('arch', title, 'warn', `ARM (arm64) host: ${boxNote}`, `Use box ${DEFAULT_BOX.virtualbox} with VirtualBox 7.1+ (it has an arm64 build), or a box that offers arm64 for ${config.provider}.`)
  }
  return item('arch', title, 'ok', `ARM (arm64) host: ${boxNote}, and Vagrant 2.4+ picks it by architecture`)
}

export async function identityFileItem(ctx: DoctorContext): Promise<DoctorItem> {
  const title = 'SSH identity file'
  const ssh = ctx.config.ssh
  if (!ssh) return item('identity-file', title, 'fail', 'provider ssh needs an ssh section', 'Add ssh: host, user and identityFile to chaos-lab.yaml.')
  const expanded = expandHome(ssh.identityFile, ctx.env)
  const path = isAbsolute(expanded) ? expanded : resolve(ctx.dir, expanded)
  if (await ctx.host.readable(path)) return item('identity-file', title, 'ok', `${path} is readable (logs in as ${ssh.user}@${ssh.host}:${ssh.port})`)
  return item('identity-file', title, 'fail', `cannot read ${path}`,
    `Point ssh.identityFile in chaos-lab.yaml at the private key that logs in as ${ssh.user}@${ssh.host}, and make it readable for you (chmod 600).`)
}
