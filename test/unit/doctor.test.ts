import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, afterEach, describe, expect, it, vi} from 'vitest'

import Doctor from '../../src/commands/doctor.js'
import {setDepsForTesting} from '../../src/deps.js'
import {isSessionUri, parseVersion, versionAtLeast} from '../../src/doctor/checks.js'
import type {DoctorItem, DoctorReport} from '../../src/doctor/doctor.js'
import {createHostFacts, type HostFacts} from '../../src/doctor/host-facts.js'
import {FakeRunner} from '../helpers/fake-runner.js'
import {captureOutput} from '../helpers/capture-output.js'

// Typed asymmetric matchers (vitest's return `any`, which the strict lint rules refuse).
function matching(pattern: RegExp): string {
  const matcher: unknown = expect.stringMatching(pattern)
  return matcher as string
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const work = mkdtempSync(join(tmpdir(), 'chaos-lab-doctor-'))
afterAll(() => { rmSync(work, {recursive: true, force: true}) })
afterEach(() => {
  setDepsForTesting(undefined)
  process.exitCode = undefined
})

let count = 0
/** A lab folder with this chaos-lab.yaml (undefined: no chaos-lab.yaml at all). */
function lab(yaml: string | undefined): string {
  const dir = join(work, `lab-${++count}`)
  mkdirSync(dir)
  if (yaml !== undefined) writeFileSync(join(dir, 'chaos-lab.yaml'), yaml)
  return dir
}

/** A healthy x86-64 Linux host with VT-x and KVM, plenty of memory and disk, and every port free. */
function host(overrides: Partial<HostFacts> = {}): HostFacts {
  return {
    platform: 'linux',
    arch: 'x64',
    cpuFlags: () => Promise.resolve(['fpu', 'vmx', 'sse2']),
    kvm: () => Promise.resolve('usable'),
    freeMemoryMb: () => 16_000,
    totalMemoryMb: () => 32_000,
    freeDiskMb: () => Promise.resolve(100_000),
    port: () => Promise.resolve('free'),
    readable: () => Promise.resolve(true),
    ...overrides,
  }
}

/** A host with Vagrant, VirtualBox, libvirt and vagrant-libvirt installed and working. */
function healthyRunner(): FakeRunner {
  return new FakeRunner()
    .on('vagrant', ['--version'], {stdout: 'Vagrant 2.4.1\n'})
    .on('vagrant', ['plugin', 'list'], {stdout: 'vagrant-libvirt (0.11.2, global)\n  - Version Constraint: > 0\n'})
    .on('VBoxManage', ['--version'], {stdout: '7.0.20r163906\n'})
    .on('virsh', ['--version'], {stdout: '9.0.0\n'})
    .on('virsh', ['-c', /^qemu:/, 'version'], {stdout: 'Compiled against library: libvirt 9.0.0\nUsing library: libvirt 9.0.0\nUsing API: QEMU 9.0.0\nRunning hypervisor: QEMU 7.2.0\n'})
}

interface Outcome {
  exitCode: number
  stdout: string
  stderr: string
  report: DoctorReport
  item: (id: string) => DoctorItem
}

async function doctor(dir: string, runner: FakeRunner, facts: HostFacts = host(), extra: string[] = ['--json']): Promise<Outcome> {
  setDepsForTesting({runner, hostFacts: () => facts})
  process.exitCode = undefined
  const {stdout, stderr, returned} = await captureOutput(() => Doctor.run(['--dir', dir, ...extra], ROOT))
  const exitCode = process.exitCode ?? 0
  process.exitCode = undefined
  const report = (extra.includes('--json') && stdout.trim().startsWith('{') ? JSON.parse(stdout) : returned) as DoctorReport
  const item = (id: string) => {
    const found = report.items.find((i) => i.id === id)
    if (!found) throw new Error(`no doctor item ${id} in ${report.items.map((i) => i.id).join(', ')}`)
    return found
  }
  return {exitCode, stdout, stderr, report, item}
}

describe('chaos-lab doctor: virtualbox', () => {
  it('a ready host: every item ok, exit 0, the documented JSON shape', async () => {
    const dir = lab('')
    const result = await doctor(dir, healthyRunner())
    expect(result.exitCode).toBe(0)
    expect(result.report).toMatchObject({provider: 'virtualbox', dir, ok: true})
    expect(Object.keys(result.report).sort()).toEqual(['dir', 'items', 'ok', 'provider'])
    expect(result.report.items.map((i) => i.id)).toEqual(['config', 'vagrant', 'virtualbox', 'virtualization', 'arch', 'memory', 'disk', 'port'])
    for (const item of result.report.items) {
      expect(Object.keys(item).sort()).toEqual(['detail', 'fix', 'id', 'status', 'title'])
      expect(item.status).toBe('ok')
      expect(item.fix).toBe('')
    }
    expect(result.item('vagrant').detail).toBe('Vagrant 2.4.1')
    expect(result.item('virtualbox').detail).toBe('VirtualBox 7.0.20')
  })

  it('prints a table, each problem with its fix, and a verdict', async () => {
    const runner = healthyRunner().missing('VBoxManage')
    const result = await doctor(lab(''), runner, host(), [])
    expect(result.exitCode).toBe(3)
    expect(result.stdout).toMatch(/STATUS\s+CHECK\s+DETAIL/)
    expect(result.stdout).toMatch(/ok\s+Vagrant\s+Vagrant 2\.4\.1/)
    expect(result.stdout).toMatch(/FAIL\s+VirtualBox\s+`VBoxManage` \(VirtualBox\) is not on PATH\n\s+fix: Install VirtualBox 7/)
    expect(result.stdout).toMatch(/1 problem must be fixed/)
  })

  it.each([[[]], [['--json']]])('Vagrant missing: fails with the install hint, exit 3 (%j)', async (extra) => {
    const runner = healthyRunner().missing('vagrant')
    const result = await doctor(lab(''), runner, host(), extra)
    expect(result.exitCode).toBe(3)
    expect(result.report.ok).toBe(false)
    expect(result.item('vagrant')).toMatchObject({status: 'fail', detail: '`vagrant` is not on PATH', fix: matching(/Install Vagrant/)})
    if (extra.length === 0) expect(result.stdout).toMatch(/fix: Install Vagrant/)
  })

  it.each([[[]], [['--json']]])('VirtualBox missing: fails with the install hint, exit 3 (%j)', async (extra) => {
    const result = await doctor(lab(''), healthyRunner().missing('VBoxManage'), host(), extra)
    expect(result.exitCode).toBe(3)
    expect(result.item('virtualbox')).toMatchObject({status: 'fail', fix: matching(/Install VirtualBox 7 .*provider: libvirt/)})
  })

  it('VirtualBox without its kernel driver fails and says how to load it', async () => {
    const runner = healthyRunner().on('VBoxManage', ['--version'], {stdout: '7.0.20r163906\n', stderr: 'WARNING: The vboxdrv kernel module is not loaded.\n'})
    const result = await doctor(lab(''), runner)
    expect(result.item('virtualbox')).toMatchObject({status: 'fail', fix: matching(/vboxconfig/)})
  })

  it('on Windows, VBoxManage is found in VirtualBox\'s install folder when it is not on PATH', async () => {
    const runner = healthyRunner().missing('VBoxManage').on(/VBoxManage\.exe$/, ['--version'], {stdout: '7.1.4r165100\n'})
    setDepsForTesting({runner, hostFacts: () => host({platform: 'win32', cpuFlags: () => Promise.resolve(undefined)}), env: {VBOX_MSI_INSTALL_PATH: 'C:\\Program Files\\Oracle\\VirtualBox\\'}})
    process.exitCode = undefined
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    let report: DoctorReport
    try {
      report = await Doctor.run(['--dir', lab(''), '--json'], ROOT)
    } finally {
      out.mockRestore()
    }
    expect(report.items.find((i) => i.id === 'virtualbox')).toMatchObject({status: 'ok', detail: 'VirtualBox 7.1.4'})
    expect(runner.argsOf('C:\\Program Files\\Oracle\\VirtualBox\\VBoxManage.exe')).toEqual([['--version']])
    expect(report.items.find((i) => i.id === 'virtualization')?.status).toBe('warn')
  })

  it('no VT-x/AMD-V fails; an unknown CPU warns; Apple\'s Hypervisor framework is fine', async () => {
    const none = await doctor(lab(''), healthyRunner(), host({cpuFlags: () => Promise.resolve(['fpu', 'sse2'])}))
    expect(none.exitCode).toBe(3)
    expect(none.item('virtualization')).toMatchObject({status: 'fail', fix: matching(/firmware/)})
    const unknown = await doctor(lab(''), healthyRunner(), host({cpuFlags: () => Promise.resolve(undefined)}))
    expect(unknown.item('virtualization').status).toBe('warn')
    const mac = await doctor(lab(''), healthyRunner().on('VBoxManage', ['--version'], {stdout: '7.1.4r165100\n'}),
      host({platform: 'darwin', arch: 'arm64', cpuFlags: () => Promise.resolve(['hv_support'])}))
    expect(mac.item('virtualization')).toMatchObject({status: 'ok', detail: matching(/Hypervisor framework/)})
  })

  it('an ARM host: says which box to use and that Vagrant 2.4+ is needed', async () => {
    const arm = host({platform: 'darwin', arch: 'arm64', cpuFlags: () => Promise.resolve(['hv_support'])})
    const vbox71 = healthyRunner().on('VBoxManage', ['--version'], {stdout: '7.1.4r165100\n'})
    const ok = await doctor(lab(''), vbox71, arm)
    expect(ok.exitCode).toBe(0)
    expect(ok.item('arch')).toMatchObject({status: 'ok', detail: matching(/arm64.*bento\/ubuntu-24\.04 has an arm64 build.*Vagrant 2\.4\+/)})

    const oldVagrant = await doctor(lab(''), healthyRunner().on('VBoxManage', ['--version'], {stdout: '7.1.4r165100\n'}).on('vagrant', ['--version'], {stdout: 'Vagrant 2.3.4\n'}), arm)
    expect(oldVagrant.exitCode).toBe(3)
    expect(oldVagrant.item('arch')).toMatchObject({status: 'fail', fix: matching(/Vagrant 2\.4 or later.*bento\/ubuntu-24\.04/)})

    const otherBox = await doctor(lab('box: ubuntu/jammy64\n'), healthyRunner().on('VBoxManage', ['--version'], {stdout: '7.1.4r165100\n'}), arm)
    expect(otherBox.item('arch')).toMatchObject({status: 'warn', detail: matching(/make sure box ubuntu\/jammy64 has an arm64 build/)})

    const oldVbox = await doctor(lab(''), healthyRunner(), arm)
    expect(oldVbox.item('virtualbox')).toMatchObject({status: 'fail', detail: matching(/Apple Silicon/)})
  })

  it('memory: more than the host has fails; more than is free warns', async () => {
    const tooBig = await doctor(lab('memory: 8192\n'), healthyRunner(), host({totalMemoryMb: () => 4096, freeMemoryMb: () => 3000}))
    expect(tooBig.exitCode).toBe(3)
    expect(tooBig.item('memory')).toMatchObject({status: 'fail', detail: 'the VM wants 8192 MB but this computer has only 4096 MB', fix: matching(/Lower `memory`/)})
    const busy = await doctor(lab(''), healthyRunner(), host({totalMemoryMb: () => 16_000, freeMemoryMb: () => 2000}))
    expect(busy.exitCode).toBe(0)
    expect(busy.item('memory')).toMatchObject({status: 'warn', detail: matching(/2000 MB is free now/)})
  })

  it('disk: under 5 GB fails, under 10 GB warns', async () => {
    const full = await doctor(lab(''), healthyRunner(), host({freeDiskMb: () => Promise.resolve(2048)}))
    expect(full.exitCode).toBe(3)
    expect(full.item('disk').status).toBe('fail')
    const tight = await doctor(lab(''), healthyRunner(), host({freeDiskMb: () => Promise.resolve(8 * 1024)}))
    expect(tight.item('disk')).toMatchObject({status: 'warn', detail: matching(/^8\.0 GB free/)})
  })

  it('the forwarded port: in use fails, unless this lab\'s VM exists (then it warns); a privileged port fails', async () => {
    const seen: [number, string][] = []
    const busy = await doctor(lab('forwardedPort: 18003\n'), healthyRunner(), host({port: (port, at) => { seen.push([port, at]); return Promise.resolve('in-use') }}))
    expect(seen).toEqual([[18003, '127.0.0.1']])
    expect(busy.exitCode).toBe(3)
    expect(busy.item('port')).toMatchObject({status: 'fail', title: 'Host port 18003 (FizzBuzz)', fix: matching(/forwardedPort/)})

    const dir = lab('')
    mkdirSync(join(dir, '.vagrant', 'machines', 'default', 'virtualbox'), {recursive: true})
    writeFileSync(join(dir, '.vagrant', 'machines', 'default', 'virtualbox', 'id'), 'uuid')
    const own = await doctor(dir, healthyRunner(), host({port: () => Promise.resolve('in-use')}))
    expect(own.item('port').status).toBe('warn')

    const low = await doctor(lab('forwardedPort: 80\n'), healthyRunner(), host({port: () => Promise.resolve('denied')}))
    expect(low.item('port')).toMatchObject({status: 'fail', fix: matching(/above 1023/)})
  })

  it('without chaos-lab.yaml it checks the book\'s defaults and says to run init', async () => {
    const result = await doctor(lab(undefined), healthyRunner())
    expect(result.exitCode).toBe(0)
    expect(result.item('config')).toMatchObject({status: 'warn', fix: matching(/chaos-lab init/)})
    expect(result.report.provider).toBe('virtualbox')
  })
})

describe('chaos-lab doctor: bad config is exit 2, before Vagrant is looked for', () => {
  it.each([[[]], [['--json']]])('memory: 4GB (%j)', async (extra) => {
    const runner = new FakeRunner({unmatched: 'missing'})
    setDepsForTesting({runner, hostFacts: () => host()})
    process.exitCode = undefined
    const {stdout, stderr} = await captureOutput(() => Doctor.run(['--dir', lab('memory: 4GB\n'), ...extra], ROOT))
    expect(process.exitCode).toBe(2)
    expect(runner.calls).toEqual([])
    if (extra.length) expect((JSON.parse(stdout) as {error: unknown}).error).toMatchObject({code: 'config_invalid', exitCode: 2, message: matching(/memory must be a whole number of MB/)})
    else expect(stderr).toMatch(/memory must be a whole number of MB/)
  })
})

describe('isSessionUri', () => {
  it.each([
    ['qemu:///session', true],
    ['qemu:///session?socket=/run/x', true],
    ['qemu+ssh://me@host/session', true],
    ['qemu+ssh://me@host:2222/session?keyfile=/k', true],
    ['qemu:///system', false],
    ['qemu:///system?socket=/run/x/session', false],
    ['qemu+ssh://session/system', false],
    ['qemu:///sessions', false],
  ])('%s: %s', (uri, session) => {
    expect(isSessionUri(uri)).toBe(session)
  })
})

describe('chaos-lab doctor: libvirt', () => {
  const libvirtLab = (extra = '') => lab(`provider: libvirt\n${extra}`)

  it('a ready host: vagrant-libvirt, virsh, a reachable libvirtd and KVM', async () => {
    const runner = healthyRunner()
    const result = await doctor(libvirtLab(), runner)
    expect(result.exitCode).toBe(0)
    expect(result.report.items.map((i) => i.id)).toEqual(['config', 'vagrant', 'vagrant-libvirt', 'virsh', 'libvirtd', 'virtualization', 'arch', 'memory', 'disk', 'port'])
    expect(result.item('libvirtd').detail).toBe('libvirt answers (QEMU 7.2.0)')
    expect(runner.argsOf('virsh')).toContainEqual(['-c', 'qemu:///system', 'version'])
    expect(runner.ran('VBoxManage')).toBe(false)
  })

  it('uses the configured URI', async () => {
    const runner = healthyRunner()
    await doctor(libvirtLab('libvirt:\n  uri: qemu:///session\n'), runner)
    expect(runner.argsOf('virsh')).toContainEqual(['-c', 'qemu:///session', 'version'])
  })

  it('without /dev/kvm, driver kvm fails and says the driver must be qemu', async () => {
    const result = await doctor(libvirtLab(), healthyRunner(), host({kvm: () => Promise.resolve('missing')}))
    expect(result.exitCode).toBe(3)
    expect(result.item('virtualization')).toMatchObject({status: 'fail', detail: matching(/the driver must be qemu/), fix: matching(/driver: qemu/)})
  })

  it('without /dev/kvm, driver qemu is fine', async () => {
    const result = await doctor(libvirtLab('libvirt:\n  driver: qemu\n'), healthyRunner(), host({kvm: () => Promise.resolve('missing'), cpuFlags: () => Promise.resolve([])}))
    expect(result.exitCode).toBe(0)
    expect(result.item('virtualization')).toMatchObject({status: 'ok', detail: matching(/no KVM is needed/)})
  })

  it('/dev/kvm you cannot open warns with qemu:///system and fails with qemu:///session', async () => {
    const denied = host({kvm: () => Promise.resolve('denied')})
    expect((await doctor(libvirtLab(), healthyRunner(), denied)).item('virtualization').status).toBe('warn')
    expect((await doctor(libvirtLab('libvirt:\n  uri: qemu:///session\n'), healthyRunner(), denied)).item('virtualization').status).toBe('fail')
  })

  it('a session URI with a query (qemu:///session?socket=…) is still the session daemon, by its path alone', async () => {
    const denied = host({kvm: () => Promise.resolve('denied')})
    const session = 'qemu:///session?socket=/run/x'
    expect((await doctor(libvirtLab(`libvirt:\n  uri: ${session}\n`), healthyRunner(), denied)).item('virtualization').status).toBe('fail')
    // A system URI whose socket path happens to end in /session is the system daemon.
    expect((await doctor(libvirtLab('libvirt:\n  uri: qemu:///system?socket=/run/x/session\n'), healthyRunner(), denied)).item('virtualization').status).toBe('warn')

    const down = await doctor(
      libvirtLab(`libvirt:\n  uri: ${session}\n`),
      healthyRunner().on('virsh', ['-c', session, 'version'], {exitCode: 1, stderr: "error: Failed to connect socket to '/run/x': No such file or directory\n"}),
    )
    expect(down.item('libvirtd')).toMatchObject({status: 'fail', fix: matching(/session daemon can start for your user \(`virsh -c qemu:\/\/\/session\?socket=\/run\/x version`\)/)})
  })

  it('missing plugin, missing virsh, unreachable libvirtd: each fails with its fix', async () => {
    const noPlugin = await doctor(libvirtLab(), healthyRunner().on('vagrant', ['plugin', 'list'], {stdout: 'No plugins installed.\n'}))
    expect(noPlugin.exitCode).toBe(3)
    expect(noPlugin.item('vagrant-libvirt')).toMatchObject({status: 'fail', fix: matching(/vagrant plugin install vagrant-libvirt/)})

    const noVirsh = await doctor(libvirtLab(), healthyRunner().missing('virsh'))
    expect(noVirsh.item('virsh')).toMatchObject({status: 'fail', fix: matching(/libvirt-daemon-system/)})
    expect(noVirsh.item('libvirtd').status).toBe('fail')

    const down = await doctor(libvirtLab(), healthyRunner().on('virsh', ['-c', 'qemu:///system', 'version'], {exitCode: 1, stderr: "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory\n"}))
    expect(down.item('libvirtd')).toMatchObject({status: 'fail', detail: matching(/libvirt-sock/), fix: matching(/systemctl enable --now libvirtd/)})

    const denied = await doctor(libvirtLab(), healthyRunner().on('virsh', ['-c', 'qemu:///system', 'version'], {exitCode: 1, stderr: "error: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied\n"}))
    expect(denied.item('libvirtd').fix).toMatch(/usermod -aG libvirt/)
  })

  it('Vagrant missing: the plugin cannot be there either', async () => {
    const result = await doctor(libvirtLab(), healthyRunner().missing('vagrant'))
    expect(result.exitCode).toBe(3)
    expect(result.item('vagrant').status).toBe('fail')
    expect(result.item('vagrant-libvirt')).toMatchObject({status: 'fail', detail: 'Not checked: Vagrant is missing'})
  })
})

describe('chaos-lab doctor: ssh', () => {
  const sshLab = () => lab('provider: ssh\nssh:\n  host: 192.0.2.10\n  user: chaos\n  identityFile: keys/id_ed25519\n')

  it('checks the identity file (relative to the lab folder) and never looks for Vagrant', async () => {
    const runner = new FakeRunner()
    const seen: string[] = []
    const dir = sshLab()
    const result = await doctor(dir, runner, host({readable: (path) => { seen.push(path); return Promise.resolve(true) }}))
    expect(result.exitCode).toBe(0)
    expect(result.report.items.map((i) => i.id)).toEqual(['config', 'identity-file'])
    expect(seen).toEqual([join(dir, 'keys', 'id_ed25519')])
    expect(runner.calls).toEqual([])
  })

  it('an unreadable identity file fails (exit 3)', async () => {
    const result = await doctor(sshLab(), new FakeRunner(), host({readable: () => Promise.resolve(false)}))
    expect(result.exitCode).toBe(3)
    expect(result.item('identity-file')).toMatchObject({status: 'fail', fix: matching(/ssh\.identityFile/)})
  })
})

describe('doctor helpers', () => {
  it('parses and compares versions', () => {
    expect(parseVersion('Vagrant 2.3.4')).toEqual([2, 3, 4])
    expect(parseVersion('7.0.14r161095')).toEqual([7, 0, 14])
    expect(parseVersion('nothing')).toBeUndefined()
    expect(versionAtLeast([2, 4, 0], [2, 4])).toBe(true)
    expect(versionAtLeast([2, 3, 9], [2, 4])).toBe(false)
    expect(versionAtLeast([3, 0, 0], [2, 4])).toBe(true)
  })

  it('has help with examples', () => {
    expect(Doctor.examples?.length).toBeGreaterThanOrEqual(2)
    expect(Doctor.description).toMatch(/Exit codes/)
  })
})

describe('the real HostFacts', () => {
  const facts = createHostFacts(new FakeRunner())

  it('tells a busy port from a free one on 127.0.0.1', async () => {
    const server: Server = createServer()
    await new Promise<void>((done) => server.listen({port: 0, host: '127.0.0.1'}, done))
    const address = server.address()
    const port = typeof address === 'object' && address ? address.port : 0
    try {
      expect(await facts.port(port, '127.0.0.1')).toBe('in-use')
    } finally {
      await new Promise((done) => server.close(done))
    }
    expect(await facts.port(port, '127.0.0.1')).toBe('free')
  })

  it('reads memory, disk, CPU flags and KVM access of this machine', async () => {
    expect(facts.totalMemoryMb()).toBeGreaterThan(0)
    expect(facts.freeMemoryMb()).toBeLessThanOrEqual(facts.totalMemoryMb())
    expect(await facts.freeDiskMb(join(work, 'does', 'not', 'exist', 'yet'))).toBeGreaterThan(0)
    expect(['usable', 'denied', 'missing']).toContain(await facts.kvm())
    if (facts.platform === 'linux') expect((await facts.cpuFlags())?.length).toBeGreaterThan(0)
    expect(await facts.readable(fileURLToPath(import.meta.url))).toBe(true)
    expect(await facts.readable(join(work, 'missing-key'))).toBe(false)
  })
})
