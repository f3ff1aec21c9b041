/**
 * Per-chapter provisioning and lesson 3 (chapter 3, "Observability") on one real VM (Debian 12 under QEMU),
 * driven through the BUILT binary. The VM boots from the chapters image (the test image with chapters 2 and 3's
 * packages installed natively in a chroot: BCC's LLVM under TCG's apt would take most of the file's budget), so
 * provisioning still runs every step but apt finds its packages present.
 *
 * The story: provision chapter 2 only → lesson-3 is "not provisioned" (labs) and `check lesson-3` is exit 2 →
 * `provision --chapters 3` adds chapter 3 without redoing chapter 2 → a fresh learner fails every item with a hint
 * → fakes are caught (answers without running anything; cgroups created with nothing in them; a fence that starves
 * the job) → a BCC tool works on the VM's kernel → a scripted learner does the chapter as the book prints it and
 * `check lesson-3` passes. Times are printed, never asserted.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {isolatedEnv, runCli, type CliResult} from '../helpers/cli.js'
import {addChapterAlone} from '../helpers/add-chapter.js'
import {phaseLog} from '../helpers/phases.js'
import {VM_TOOLS, bootVm, ensureChaptersImage, ensureTestImage, requireTools, type ChaptersImage, type RunningVm} from '../helpers/vm/index.js'
import {loadLesson} from '../../src/lessons/load.js'
import {shellQuote} from '../../src/util/shell.js'

const skip = requireTools([...VM_TOOLS, 'chroot', 'mount'], {root: true})
const CHAPTER = '/home/chaos/src/examples/busy-neighbours'
const SHEET = '/home/chaos/answers/lesson-3.yaml'
const MINUTE = 60_000
const LAUNCHER = 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); signal.signal(signal.SIGQUIT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])'

interface CheckJson {id: string; status: string; message: string; hint?: string}

describe.skipIf(skip !== undefined)('chapters on the lab VM: provision --chapters, lesson 3 (Debian bookworm, QEMU)', () => {
  const {say, phase, timings} = phaseLog('chapters-vm')
  let image: ChaptersImage
  let vm: RunningVm
  let env: Record<string, string>
  const target = () => ['--target', `ssh://admin@127.0.0.1:${vm.port}`, '--identity', image.privateKeyPath]
  /** As the learner, in the chapter folder (no `sudo -i`: its login shell would expand $vars first). */
  const asChaos = (command: string, timeoutMs = 3 * MINUTE) => vm.ssh(`sudo -n -u chaos -H bash -c ${shellQuote(`cd ${CHAPTER} || exit 1; ${command}`)}`, {timeoutMs})
  const check = () => runCli(['check', 'lesson-3', ...target(), '--json'], {env, timeoutMs: 8 * MINUTE})
  const byId = (result: CliResult): Record<string, CheckJson> => Object.fromEntries((result.json.checks as CheckJson[]).map((c) => [c.id, c]))
  const statuses = (result: CliResult): Record<string, string> => Object.fromEntries(Object.entries(byId(result)).map(([id, c]) => [id, c.status]))
  const answer = (values: Record<string, string>) => vm.ssh(`sudo -n -u chaos sed -i ${Object.entries(values).map(([key, value]) => `-e ${shellQuote(`s/^${key}:.*/${key}: ${value}/`)}`).join(' ')} ${SHEET}`)
  /**
   * Runs a book script as the learner in a terminal (`script` gives it a pty) for `seconds`, then types Ctrl+C into
   * that terminal, as a learner does: the terminal signals the foreground job, and sudo (which runs its command in a
   * pty of its own, use_pty) passes the keystroke on. A background job of a non-interactive shell starts with
   * SIGINT ignored, which `script` would hand down: a python3 launcher gives it back its default first.
   */
  const runFor = (name: string, seconds: number, out: string) => asChaos(
    `fifo=$(mktemp -u); mkfifo $fifo; python3 -c ${shellQuote(LAUNCHER)} script -qfec ./${name} /dev/null < $fifo > ${out} 2>&1 & sp=$!; exec 3>$fifo; sleep ${seconds}; printf '\\003' >&3; ended=no; for i in $(seq 1 60); do kill -0 $sp 2>/dev/null || { ended=yes; break; }; sleep 1; done; exec 3>&-; rm -f $fifo; tr -d '\\r' < ${out}; printf '\\nended after Ctrl+C: %s\\n' $ended`,
    (seconds + 120) * 1000,
  )
  const roundTimes = (output: string) => [...output.matchAll(/^real\s+(\d+)m([\d.]+)s$/gm)].map((m) => Number(m[1]) * 60 + Number(m[2]))

  beforeAll(async () => {
    const base = await phase('test image', () => ensureTestImage())
    image = await phase('chapters image (chapters 2 and 3 preinstalled in a chroot)', () => ensureChaptersImage(base, [2, 3], {log: say}))
    say(`image ${image.key}: kernel ${image.kernel}, built ${image.built ? `now in ${image.buildSeconds} s` : 'before (cached)'}`)
    vm = await phase('boot', () => bootVm({image, name: 'ch3-13', memoryMb: 1024, cpus: 2}))
    env = isolatedEnv()
  }, 45 * MINUTE)

  afterAll(async () => {
    await vm?.stop()
    say(`phases: ${timings.map(([name, s]) => `${name} ${s.toFixed(0)} s`).join(', ')}`)
  })

  it('provisions chapter 2 only; labs says lesson-3 is not there and check lesson-3 is exit 2 saying how to add it', async () => {
    const first = await phase('provision --chapters 2', () => runCli(['provision', ...target(), '--chapters', '2', '--json'], {env, timeoutMs: 20 * MINUTE}))
    expect(first.code, first.stdout + first.stderr).toBe(0)
    expect(first.json.chapters).toEqual([2])
    // The report lists the lab's steps: chapter 3 is not one of them.
    expect((first.json.steps as {name: string; status: string}[]).map((s) => `${s.name}:${s.status}`)).toEqual(['base:done', 'desktop:done', 'chapter2:done'])
    const labs = await runCli(['labs', ...target(), '--json'], {env})
    expect(labs.code, labs.stderr).toBe(0)
    expect(labs.json.machine.chapters).toEqual([2])
    const lessons = Object.fromEntries((labs.json.lessons as {id: string; chapter: number; provisioned: boolean}[]).map((l) => [l.id, l]))
    expect(lessons['lesson-2']).toMatchObject({chapter: 2, provisioned: true})
    expect(lessons['lesson-3']).toMatchObject({chapter: 3, provisioned: false})
    const refused = await runCli(['check', 'lesson-3', ...target(), '--json'], {env})
    expect(refused.code).toBe(2)
    expect(refused.json.error.code).toBe('chapter_not_provisioned')
    expect(refused.json.error.suggestion).toMatch(/chaos-lab provision --target \S+ --identity \S+ --chapters 3/)
  }, 25 * MINUTE)

  it('provision --chapters 3 adds chapter 3 alone (base and chapter 2 are not redone); the rerun is a no-op', async () => {
    // Without --chapters, a --target keeps the machine's own chapters (now 2 and 3): the rerun has nothing to do.
    const {summary} = await addChapterAlone({chapter: 3, expectChapters: [2, 3], target: target(), env, phase})
    say(summary)
    // The book's material where the book puts it, owned by chaos; chaos-lab's own tools root's.
    const owners = await vm.ssh(`stat -c '%U %a %n' ${CHAPTER}/mystery002 ${CHAPTER}/benign.sh ${CHAPTER}/mystery002-cgroups.sh ${SHEET} /opt/chaos-lab/chapter3/fence_check.sh`)
    expect(owners.stdout.trim().split('\n').map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual(['chaos 755', 'chaos 755', 'chaos 755', 'chaos 644', 'root 755'])
    expect((await vm.ssh('test -f /sys/fs/cgroup/cgroup.controllers && echo v2; dpkg-query -W -f "\\${Version}" cgroup-tools')).stdout).toMatch(/^v2\n2\./)
  }, 20 * MINUTE)

  it('a fresh learner: exit 1 and a hint on every item, the experiment blocked', async () => {
    const fresh = await phase('check lesson-3, fresh learner', check)
    expect(fresh.code, fresh.stdout + fresh.stderr).toBe(1)
    const checks = byId(fresh)
    for (const c of Object.values(checks)) {
      expect(c.status, c.id).not.toBe('pass')
      expect(c.status, c.id).not.toBe('error')
      expect(c.hint, c.id).toBeTruthy()
    }
    expect(checks['fence-holds']?.status).toBe('blocked')
    expect(Object.keys(checks)).toEqual(loadLesson('lesson-3').checks.map((c) => c.id))
  }, 10 * MINUTE)

  it('a BCC tool works on the VM\'s kernel: execsnoop-bpfcc sees a program started while it runs', async () => {
    // As the learner types it (sudo). Compiling the BPF program under TCG takes a while: the marker program is
    // started until execsnoop has printed its header, then a few more times.
    const result = await phase('execsnoop-bpfcc', () => asChaos(
      'sudo env PYTHONUNBUFFERED=1 timeout -s INT 150 execsnoop-bpfcc > /tmp/execsnoop.out 2>&1 & for i in $(seq 1 140); do /bin/true chaos-lab-marker; grep -q PCOMM /tmp/execsnoop.out && break; sleep 1; done; for i in 1 2 3; do sleep 1; /bin/true chaos-lab-marker; done; sleep 2; sudo pkill -INT -f "[e]xecsnoop-bpfcc"; wait; cat /tmp/execsnoop.out',
      4 * MINUTE,
    ))
    say(`execsnoop-bpfcc on ${image.kernel}:\n${result.stdout.split('\n').filter((line) => /PCOMM|chaos-lab-marker/.test(line)).slice(0, 4).join('\n')}`)
    expect(result.stdout).toMatch(/PCOMM\s+PID\s+PPID\s+RET\s+ARGS/)
    expect(result.stdout).toMatch(/^true\s+\d+\s+\d+\s+0\s+\/bin\/true chaos-lab-marker$/m)
  }, 5 * MINUTE)

  it('fake: answers written without running anything pass as answers, and the VM has no evidence: exit 1', async () => {
    await answer({slowed_by: 'stress', tool_that_showed_it: 'top', stress_workers: '4'})
    const result = await check()
    expect(result.code).toBe(1)
    expect(statuses(result)).toMatchObject({'slowed-by': 'pass', 'tool-that-showed-it': 'pass', 'stress-workers': 'pass', 'formulaone-exists': 'fail', 'fix-run-by-the-book': 'fail', 'fence-holds': 'blocked'})
  }, 10 * MINUTE)

  it('fake: cgroups created with nothing in them are caught; a fence that starves the job fails the behaviour', async () => {
    await asChaos('sudo cgcreate -g cpu:/formulaone && sudo cgcreate -g cpu:/formulatwo')
    await vm.ssh('sudo -n cgset -r cpu.max="10000 100000" formulaone')
    try {
      const result = await phase('check lesson-3, empty and starved fence', check)
      const checks = byId(result)
      expect(result.code).toBe(1)
      expect(statuses(result)).toMatchObject({'formulaone-exists': 'pass', 'formulatwo-exists': 'pass', 'job-ran-in-formulaone': 'fail', 'neighbour-ran-in-formulatwo': 'fail', 'fix-run-by-the-book': 'fail', 'fence-free': 'pass', 'fence-holds': 'fail'})
      say(`starved fence (cpu.max 10000 100000): ${checks['fence-holds']?.message ?? ''}`)
      expect(checks['job-ran-in-formulaone']?.message).toMatch(/nothing has run in formulaone yet/)
    } finally {
      await vm.ssh('sudo -n cgset -r cpu.max=max formulaone')
    }
  }, 10 * MINUTE)

  it('the learner does chapter 3 as the book prints it, and check lesson-3 passes', async () => {
    await vm.ssh('sudo -n rmdir /sys/fs/cgroup/formulaone /sys/fs/cgroup/formulatwo')
    // mystery002 alone, then with its neighbour (benign.sh starts stress after 15 s); `top` in another terminal.
    const watching = asChaos('sleep 40; top -b -n 1 -o %CPU | head -n 20; pidstat 1 3 | grep -c " stress$"')
    const plain = await phase('./mystery002 for 60 s', () => runFor('mystery002', 60, '/tmp/mystery002.out'))
    const seen = await watching
    say(`mystery002 rounds (s): ${roundTimes(plain.stdout).join(', ')}`)
    expect(plain.stdout).toMatch(/Calculating pi's 3000 digits/)
    expect(plain.stdout).toMatch(/^ended after Ctrl\+C: yes$/m)
    expect(seen.stdout).toMatch(/\bstress\s*$/m)
    expect((await vm.ssh('pgrep -x stress || echo none')).stdout.trim()).toBe('none') // Ctrl+C took the neighbour along
    // The fix, as the book runs it.
    const fenced = await phase('./mystery002-cgroups.sh for 70 s', () => runFor('mystery002-cgroups.sh', 70, '/tmp/mystery002-cgroups.out'))
    // Rounds are printed, not counted: under TCG one round of 3000 digits can take most of a minute.
    say(`mystery002-cgroups.sh rounds (s): ${roundTimes(fenced.stdout).join(', ')}`)
    expect(fenced.stdout).toMatch(/Calculating pi's 3000 digits/)
    expect(fenced.stdout).toMatch(/^ended after Ctrl\+C: yes$/m)
    expect((await vm.ssh('pgrep -x stress || echo none')).stdout.trim()).toBe('none')
    // What the learner read off: the workers pidstat showed (stress's children), formulaone's weight.
    const weight = (await asChaos('cat /sys/fs/cgroup/formulaone/cpu.weight')).stdout.trim()
    await answer({slowed_by: 'benign.sh', tool_that_showed_it: 'pidstat', stress_workers: '4', formulaone_cpu_weight: weight})
    const result = await phase('check lesson-3, the learner\'s work', check)
    const checks = byId(result)
    // The measurement behind fence-holds' bound: the fenced share, and the unfenced control beside it.
    say(`fence-holds: ${checks['fence-holds']?.message ?? ''}; job-ran: ${checks['job-ran-in-formulaone']?.message ?? ''}; neighbour-ran: ${checks['neighbour-ran-in-formulatwo']?.message ?? ''}`)
    expect(result.code, JSON.stringify(result.json.checks, null, 1)).toBe(0)
  }, 15 * MINUTE)
})
