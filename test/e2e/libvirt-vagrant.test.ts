/**
 * The whole Vagrant path on a real VM, with Vagrant's libvirt provider (VirtualBox cannot run here):
 * init → doctor → up (interrupted while provisioning, then run again) → check lesson-1 → a learner change → reset →
 * status → up again (quick, no change) → destroy (no domain or volume left).
 *
 * Real Vagrant + vagrant-libvirt, a private libvirtd + virtlogd started here without systemd (in a network
 * namespace of their own, test/helpers/libvirt/daemon.ts), QEMU TCG, and a local box built from the test VM
 * image (test/helpers/libvirt/box.ts). Skipped where the tools are missing, except on CI (CI=true), where that
 * is an error. Prints the time of each phase.
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {CliResult} from '../helpers/cli.js'
import {phaseLog} from '../helpers/phases.js'
import {
  BOX_NAME,
  BOX_TOOLS,
  boxPreinstallFromEnv,
  LIBVIRT_HOST_TOOLS,
  configureLabForHost,
  ensureLibvirtBox,
  freezeCli,
  labEnv,
  runCliInNetns,
  seedBoxVolume,
  startCliInNetns,
  startLibvirt,
  type LibvirtBox,
  type LibvirtHost,
  type NetnsCliOptions,
} from '../helpers/libvirt/index.js'
import {VM_TOOLS, ensureTestImage, requireTools} from '../helpers/vm/index.js'
import {removeTreeSync, sleep} from '../helpers/vm/run.js'

const MINUTE = 60_000
const {say, phase, timings} = phaseLog('libvirt-vagrant')

/** Why Vagrant cannot drive libvirt here (a skip reason; on CI an error, as requireTools does). */
function vagrantLibvirtMissing(): string | undefined {
  const result = spawnSync('vagrant', ['plugin', 'list'], {encoding: 'utf8', timeout: 120_000})
  if (result.status === 0 && /vagrant-libvirt/.test(result.stdout)) return undefined
  const reason = `the Vagrant plugin vagrant-libvirt is not installed (vagrant plugin list: ${(result.stdout || result.stderr || '').trim()})`
  if (process.env.CI === 'true') throw new Error(`The libvirt end-to-end test cannot run on CI: ${reason}.`)
  return reason
}

const skip = requireTools([...new Set([...VM_TOOLS, ...BOX_TOOLS, ...LIBVIRT_HOST_TOOLS])], {root: true}) ?? vagrantLibvirtMissing()
if (skip) console.warn(`libvirt-vagrant: skipped: ${skip}`)

function describeResult(result: CliResult): string {
  return `exit ${result.code ?? result.signal ?? '?'} after ${(result.ms / 1000).toFixed(0)} s\n--- stdout\n${result.stdout.slice(-4000)}\n--- stderr\n${result.stderr.slice(-4000)}`
}

describe.skipIf(skip !== undefined)('chaos-lab on Vagrant + libvirt (real VM, QEMU TCG)', () => {
  let box: LibvirtBox
  let host: LibvirtHost | undefined
  let scratch = ''
  let lab = ''
  let env: Record<string, string> = {}
  let bin = ''
  let failed = false

  function libvirt(): LibvirtHost {
    if (!host) throw new Error('libvirt did not start')
    return host
  }

  async function cli(args: string[], options: NetnsCliOptions = {}): Promise<CliResult> {
    return runCliInNetns(libvirt(), args, {bin, ...options, env: {...env, ...options.env}})
  }

  /** A command in the VM as the learner (chaos), through `chaos-lab ssh`. */
  async function inVm(command: string): Promise<CliResult> {
    return cli(['ssh', '--dir', lab, '--', command], {timeoutMs: 2 * MINUTE})
  }

  beforeAll(async () => {
    const image = await phase('test image (cached after the first run)', () => ensureTestImage({log: say}))
    // Off by default: `up` provisions from a bare box (the box is built natively and cached either way).
    const preinstall = boxPreinstallFromEnv()
    if (preinstall.length > 0) say(`box with ${preinstall.length} packages preinstalled (CHAOS_LAB_LIBVIRT_PREINSTALL=1)`)
    box = await phase('libvirt box (cached per image)', () => ensureLibvirtBox(image, {log: say, preinstall}))
    host = await phase('start libvirtd + virtlogd', () => startLibvirt({log: say}))
    await phase('pre-seed the box volume in the pool', () => seedBoxVolume(libvirt(), box))
    scratch = mkdtempSync(path.join(os.tmpdir(), 'chaos-lab-libvirt-e2e-'))
    lab = path.join(scratch, 'lab')
    env = labEnv(box, scratch)
    // The built CLI as it is now: a rebuild of dist/ during this long run cannot break it.
    bin = await freezeCli(path.join(scratch, 'chaos-lab'))
  }, 45 * MINUTE)

  afterAll(async () => {
    if (failed && host) say(`libvirt diagnostics:\n${host.diagnostics(40)}`)
    const started = Date.now()
    await host?.stop()
    say(`teardown (domains, networks, pool, daemons, namespace): ${((Date.now() - started) / 1000).toFixed(1)} s`)
    if (scratch) removeTreeSync(scratch)
    say(`phases:\n${timings.map(([name, seconds]) => `  ${seconds.toFixed(1).padStart(7)} s  ${name}`).join('\n')}`)
  }, 5 * MINUTE)

  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body()
    } catch (error) {
      failed = true
      throw error
    }
  }

  it('init writes a libvirt lab for the local box', () => step(async () => {
    const result = await phase('init', () => cli(['init', '--dir', lab, '--provider', 'libvirt', '--box', BOX_NAME, '--profile', 'headless']))
    expect(result.code, describeResult(result)).toBe(0)
    // The VM this machine can run: QEMU without KVM, the private libvirtd's socket, the OOM lesson's memory size.
    configureLabForHost(lab, libvirt(), {memoryMb: 1024, cpus: 2})
  }), 5 * MINUTE)

  it('doctor finds Vagrant, vagrant-libvirt and the libvirt daemon, and accepts driver qemu without KVM', () => step(async () => {
    const result = await phase('doctor', () => cli(['doctor', '--dir', lab, '--json'], {timeoutMs: 5 * MINUTE}))
    const items = (result.json as {items?: Array<{id: string; status: string}>} | undefined)?.items ?? []
    const status = Object.fromEntries(items.map((item) => [item.id, item.status]))
    expect(status, describeResult(result)).toMatchObject({vagrant: 'ok', 'vagrant-libvirt': 'ok', virsh: 'ok', libvirtd: 'ok', virtualization: 'ok'})
  }), 10 * MINUTE)

  it('up, interrupted (SIGINT) while provisioning, then run again, converges and takes the pristine snapshot', () => step(async () => {
    let interruptedAt = ''
    let interruptedStep = ''
    const first = await phase('up #1 (boot, then SIGINT during provisioning)', async () => {
      const up = startCliInNetns(libvirt(), ['up', '--dir', lab, '--verbose'], {bin, env, timeoutMs: 25 * MINUTE})
      let ended = false
      void up.done.then(() => { ended = true })
      // Wait (bounded) for provisioning to start, then cut it off in the middle of real work: dpkg running in
      // the base step (a bare box), or the chapter 2 step building its programs (a box with the packages in).
      const deadline = Date.now() + 20 * MINUTE
      while (!ended && Date.now() < deadline && !/\[base\] start/.test(up.output())) await sleep(1000)
      const stepDeadline = Date.now() + 15 * MINUTE
      while (!ended && Date.now() < stepDeadline && !interruptedAt) {
        if (/\[chapter2\] /.test(up.output())) {
          interruptedAt = 'step chapter2 running'
          interruptedStep = 'chapter2'
          break
        }
        const probe = await cli(['ssh', '--dir', lab, '--user', 'vagrant', '--', 'pgrep -x dpkg >/dev/null && echo dpkg-running'], {timeoutMs: MINUTE})
        if (probe.stdout.includes('dpkg-running') && !/\[(desktop|chapter2)\] /.test(up.output())) {
          interruptedAt = 'dpkg running in step base'
          interruptedStep = 'base'
        } else {
          await sleep(2000)
        }
      }
      if (!ended && interruptedAt) {
        await sleep(3000)
        up.interrupt()
      }
      return up.done
    })
    say(`up #1 interrupted: ${interruptedAt || '(never: it ended first, or provisioning never got to real work)'}; it exited ${first.code ?? first.signal ?? '?'}`)
    expect(interruptedAt, `up was not interrupted during provisioning:\n${describeResult(first)}`).not.toBe('')
    expect(first.code, describeResult(first)).not.toBe(0)

    const second = await phase('up #2 (resume provisioning, snapshot)', () => cli(['up', '--dir', lab, '--json'], {timeoutMs: 30 * MINUTE}))
    expect(second.code, describeResult(second)).toBe(0)
    // `up` rewrote the Vagrantfile from chaos-lab.yaml: the libvirt block has what configureLabForHost set.
    const vagrantfile = readFileSync(path.join(lab, 'Vagrantfile'), 'utf8')
    expect(vagrantfile).toContain(`libvirt.driver = 'qemu'`)
    expect(vagrantfile).toContain(`libvirt.uri = '${libvirt().uri}'`)
    expect(second.json).toMatchObject({provider: 'libvirt', snapshot: 'taken', provision: {changed: true}})
    const steps = (second.json as {provision: {steps: Array<{name: string; status: string; durationMs: number}>}}).provision.steps
    say(`up #2 steps: ${steps.map((s) => `${s.name} ${s.status} ${(s.durationMs / 1000).toFixed(0)} s`).join(', ')}`)
    // The interrupted step ran again (its stamp was removed when it started); nothing failed.
    expect(steps.find((s) => s.name === interruptedStep)?.status).toBe('done')
    expect(steps.every((s) => s.status === 'done' || s.status === 'skipped')).toBe(true)
  }), 60 * MINUTE)

  it('check lesson-1 passes on the VM chaos-lab made', () => step(async () => {
    const result = await phase('check lesson-1', () => cli(['check', 'lesson-1', '--dir', lab, '--json'], {timeoutMs: 10 * MINUTE}))
    expect(result.code, describeResult(result)).toBe(0)
    expect(result.json).toMatchObject({lesson: 'lesson-1', summary: {fail: 0, error: 0}})
  }), 15 * MINUTE)

  it('reset restores the pristine snapshot, keeping the learner\'s work in an archive', () => step(async () => {
    const write = await inVm('mkdir -p ~/answers && echo "my own answer" > ~/answers/learner-note.txt')
    expect(write.code, describeResult(write)).toBe(0)
    // Changes outside the backed-up paths (~/answers, ~/src, history): a file in /etc and a unit drop-in (the
    // learner's start-limit fix). Only a snapshot restore reverts them; a reset that only deleted the learner's
    // files would leave them.
    const outside = await inVm(`sudo -n sh -c 'echo changed > /etc/chaos-lab-reset-proof && mkdir -p /etc/systemd/system/faas001_a.service.d && printf "[Unit]\\nStartLimitIntervalSec=0\\n" > /etc/systemd/system/faas001_a.service.d/fix.conf && systemctl daemon-reload' && cat /etc/chaos-lab-reset-proof && systemctl show -p StartLimitIntervalUSec --value faas001_a`)
    expect(outside.code, describeResult(outside)).toBe(0)
    expect(outside.stdout).toMatch(/^changed\n0\n/m)

    const reset = await phase('reset (backup, snapshot restore)', () => cli(['reset', '--dir', lab, '--yes', '--json'], {timeoutMs: 15 * MINUTE}))
    expect(reset.code, describeResult(reset)).toBe(0)
    const backup = (reset.json as {scope: string; backup: {file: string; paths: string[]}})
    expect(backup.scope).toBe('vm')
    expect(path.dirname(backup.backup.file)).toBe(lab)
    const listing = spawnSync('tar', ['-tzf', backup.backup.file], {encoding: 'utf8', timeout: 60_000})
    expect(listing.stdout).toContain('home/chaos/answers/learner-note.txt')

    const gone = await inVm('test -e ~/answers/learner-note.txt; echo "exists=$?"')
    expect(gone.code, describeResult(gone)).toBe(0)
    expect(gone.stdout).toContain('exists=1')
    const reverted = await inVm('test -e /etc/chaos-lab-reset-proof; echo "etc=$?"; test -e /etc/systemd/system/faas001_a.service.d/fix.conf; echo "dropin=$?"; echo "window=$(systemctl show -p StartLimitIntervalUSec --value faas001_a)"')
    expect(reverted.code, describeResult(reverted)).toBe(0)
    expect(reverted.stdout).toContain('etc=1')
    expect(reverted.stdout).toContain('dropin=1')
    expect(reverted.stdout).toMatch(/^window=(?!0$)\S+$/m)
  }), 20 * MINUTE)

  it('status --json reports the running VM and its snapshot', () => step(async () => {
    const result = await phase('status', () => cli(['status', '--dir', lab, '--json'], {timeoutMs: 5 * MINUTE}))
    expect(result.code, describeResult(result)).toBe(0)
    expect(result.json).toMatchObject({provider: 'libvirt', state: 'running'})
    expect((result.json as {snapshots: string[]}).snapshots).toContain('chaos-lab-pristine')
  }), 10 * MINUTE)

  it('up on the running VM changes nothing', () => step(async () => {
    const result = await phase('up #3 (already up)', () => cli(['up', '--dir', lab, '--json'], {timeoutMs: 10 * MINUTE}))
    expect(result.code, describeResult(result)).toBe(0)
    expect(result.json).toMatchObject({snapshot: 'kept', provision: {changed: false}})
    // Vagrant (Ruby) starts three times (up, ssh-config, snapshot list): no boot, no provisioning. How long that
    // takes is measured by `npm run bench -- libvirt`, not asserted here.
  }), 10 * MINUTE)

  it('destroy leaves no domain and no volume but the shared box volume', () => step(async () => {
    const result = await phase('destroy', () => cli(['destroy', '--dir', lab, '--force', '--json'], {timeoutMs: 10 * MINUTE}))
    expect(result.code, describeResult(result)).toBe(0)
    expect(await libvirt().domains()).toEqual([])
    // vagrant-libvirt keeps the base box's volume for the next machine of that box (the harness seeded it).
    expect(await libvirt().volumes()).toEqual([box.volumeName])
    expect(existsSync(path.join(lab, '.chaos-lab', 'known_hosts'))).toBe(false)
    const status = await cli(['status', '--dir', lab, '--json'], {timeoutMs: 5 * MINUTE})
    expect(status.json).toMatchObject({state: 'not_created'})
  }), 15 * MINUTE)
})
