/**
 * Apple Silicon's architecture, proven under emulation: the chapter-2 lab on a Debian arm64 VM
 * (qemu-system-aarch64, the "virt" board, TCG), provisioned headless over SSH by the BUILT binary; the book's
 * chapter-2 behaviours there; lesson-2 for a fresh learner (exit 1, hints) and for one who did the chapter
 * (exit 0, the experiment under load included). Every phase's time is printed, to set beside lab-vm's (amd64).
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {asChaos, applyStartLimitFix, fizzbuzz, restoreStartLimit, scaleStartLimitForTcg, startLimitHits, vmNow, waitForBothInstances, writeLesson2Answers} from '../helpers/chapter2.js'
import {isolatedEnv, runCli, type CliResult} from '../helpers/cli.js'
import {provisioningPackages} from '../helpers/fleet/images.js'
import {ARM64_TOOLS, DISK_SIZE, VM_TOOLS, bootVm, ensurePreinstalledImage, ensureTestImage, requireTools, type PreinstalledImage, type RunningVm} from '../helpers/vm/index.js'

const skip = requireTools([...VM_TOOLS, ...ARM64_TOOLS], {root: true})
const timings: Record<string, number> = {}
const seconds = (ms: number) => Math.round(ms / 100) / 10

describe.skipIf(skip !== undefined)('the lab VM on arm64 (Debian bookworm under qemu-system-aarch64), provisioned by the built binary', () => {
  let image: PreinstalledImage
  let vm: RunningVm
  let env: Record<string, string>
  const target = () => ['--target', `ssh://admin@127.0.0.1:${vm.port}`, '--identity', image.privateKeyPath]
  const check = (lesson: string) => runCli(['check', lesson, ...target(), '--json'], {env, timeoutMs: 10 * 60_000})
  const statuses = (result: CliResult): Record<string, string> => Object.fromEntries((result.json.checks as {id: string; status: string}[]).map((c) => [c.id, c.status]))

  beforeAll(async () => {
    const log = (line: string) => { console.log(line) }
    const base = await ensureTestImage({arch: 'arm64', log})
    timings.baseImage = base.buildSeconds
    // Provisioning's packages are installed at build time (apt through qemu-user in a chroot, cached), as the
    // libvirt box and the desktop image do: apt under aarch64 TCG would take most of an hour. `provision` still
    // runs every step in the VM; apt finds the packages there.
    image = await ensurePreinstalledImage(base, {label: 'arm64-lab', packages: provisioningPackages(), diskSize: DISK_SIZE, log})
    timings.packagesImage = image.buildSeconds
    console.log(`arm64 images: base ${base.key} (${base.built ? 'built' : 'cached'}; its build took ${base.buildSeconds} s), with provisioning's packages ${image.key} (${image.built ? 'built' : 'cached'}; ${image.buildSeconds} s)`)
    // 1024 MB as on amd64: mystery001 meets the OOM killer within minutes under aarch64 TCG.
    vm = await bootVm({image, name: 'lab-arm64', memoryMb: 1024, cpus: 2, bootTimeoutMs: 10 * 60_000})
    timings.boot = seconds(vm.bootMs)
    console.log(`arm64 VM answered SSH ${timings.boot} s after launch`)
    env = isolatedEnv()
  }, 90 * 60_000)

  afterAll(async () => {
    await vm?.stop()
    console.log(`arm64 timings (s): ${JSON.stringify(timings)}`)
  })

  it('is an aarch64 machine running Debian\'s arm64 kernel', async () => {
    const result = await vm.ssh('uname -m; dpkg --print-architecture')
    expect(result.stdout.split('\n').slice(0, 2)).toEqual(['aarch64', 'arm64'])
  })

  it('provisions headless from scratch (exit 0, every step done)', async () => {
    // Chapter 2 only: this file's story is chapter 2 on arm64; chapter 3 (BCC's LLVM under TCG) is chapters-vm's.
    const first = await runCli(['provision', ...target(), '--chapters', '2', '--json'], {env, timeoutMs: 59 * 60_000})
    timings.provision = seconds(first.ms)
    console.log(`arm64 first provision: ${timings.provision} s`)
    expect(first.stderr + first.stdout).not.toMatch(/at .*\.js:\d+/)
    expect(first.code, first.stdout + first.stderr).toBe(0)
    expect(first.json.steps.map((s: {status: string}) => s.status)).not.toContain('failed')
  }, 60 * 60_000)

  it('a fresh learner fails lesson-2 (exit 1), each missing item with a hint, the experiment blocked', async () => {
    const result = await check('lesson-2')
    timings.checkFresh = seconds(result.ms)
    expect(result.code, result.stdout + result.stderr).toBe(1)
    const byId = statuses(result)
    for (const id of ['mystery000-exit-code', 'mystery000-signal', 'mystery001-oom-killed', 'start-limit-fix-a', 'start-limit-fix-b']) expect(byId[id], id).toBe('fail')
    expect(byId['killer-while-under-load']).toBe('blocked')
    for (const c of result.json.checks as {status: string; hint: string; id: string}[]) {
      if (c.status !== 'pass') expect(c.hint.length, c.id).toBeGreaterThan(20)
    }
  }, 11 * 60_000)

  it('mystery000 dies of SIGFPE on arm64 too (whose division by zero does not trap): exit 136', async () => {
    const result = await asChaos(vm, './mystery000; echo "exit=$?"')
    expect(result.stdout).toContain('exit=136')
    expect(result.stdout + result.stderr).toMatch(/Floating point exception/)
  }, 120_000)

  it('SIGTERM gives 143, SIGKILL 137', async () => {
    const result = await asChaos(vm, 'for sig in TERM KILL; do sleep 3600 & pid=$!; sleep 0.3; pkill -$sig -x sleep; wait $pid; echo "$sig=$?"; done')
    expect(result.stdout).toContain('TERM=143')
    expect(result.stdout).toContain('KILL=137')
  }, 120_000)

  it('FizzBuzz through nginx on 8003 answers from both instances', async () => {
    const numbers = [15, 9, 10, 7, ...Array.from({length: 8}, () => 1 + Math.floor(Math.random() * 100_000))]
    const result = await vm.ssh(numbers.map((n) => `curl -s http://127.0.0.1:8003/api/v1/fizzbuzz/${n}; echo`).join('; '))
    const answers = result.stdout.trim().split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line) as {result: string; instance: string})
    expect(answers.map((a) => a.result)).toEqual(numbers.map(fizzbuzz))
    expect(new Set(answers.map((a) => a.instance))).toEqual(new Set(['8001', '8002']))
  }, 120_000)

  it('the start limit is reproducible: the book\'s killer_while.sh leaves an instance start-limit-hit', async () => {
    expect(await scaleStartLimitForTcg(vm)).toEqual(['2min', '2min'])
    try {
      const started = Date.now()
      const since = await vmNow(vm)
      const killer = await asChaos(vm, './killer_while.sh', 240_000)
      timings.killerWhile = seconds(Date.now() - started)
      expect(killer.stdout.match(/Killing faas001_[ab]/g)).toHaveLength(12)
      // Each instance: five restarts within the window, and systemd refused the sixth.
      expect(await startLimitHits(vm, since), killer.stdout).toEqual(['faas001_a', 'faas001_b'])
    } finally {
      await restoreStartLimit(vm)
      await vm.ssh('sudo -n systemctl reset-failed faas001_a faas001_b; sudo -n systemctl start faas001_a faas001_b')
    }
  }, 300_000)

  it('mystery001 is killed by the OOM killer, and the kernel log says so', async () => {
    const started = Date.now()
    const result = await asChaos(vm, 'timeout 600 ./mystery001 > /dev/null; echo "exit=$?"', 630_000)
    timings.mystery001 = seconds(Date.now() - started)
    console.log(`arm64 mystery001 met the OOM killer after ${timings.mystery001} s`)
    expect(result.stdout).toContain('exit=137')
    const log = await asChaos(vm, 'dmesg | grep -i mystery001')
    expect(log.stdout, log.stderr).toMatch(/Out of memory: Killed process \d+ \(mystery001\)/)
  }, 700_000)

  it('the learner who did the chapter passes lesson-2 (exit 0), the experiment under load included', async () => {
    await writeLesson2Answers(vm)
    await applyStartLimitFix(vm, ['faas001_a', 'faas001_b'])
    await waitForBothInstances(vm)
    // Units restarted a moment ago may still be inside their start-limit window: give them the book's pause.
    await new Promise((resolveWait) => setTimeout(resolveWait, 5000))
    const result = await check('lesson-2')
    timings.checkDone = seconds(result.ms)
    const checks = result.json.checks as {id: string; status: string; message: string}[]
    expect(checks.filter((c) => c.status !== 'pass'), JSON.stringify(checks, null, 1)).toEqual([])
    expect(result.code).toBe(0)
    expect((await waitForBothInstances(vm)).stdout.trim().split('\n')).toEqual(['active', 'active'])
  }, 11 * 60_000)
})
