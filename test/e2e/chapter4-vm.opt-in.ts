/**
 * Chapter 4 ("Database trouble and testing in production") and lesson 4 on one real VM (Debian 12 under QEMU),
 * driven through the BUILT binary. The VM boots from a chapters image with chapters 2 and 4's packages installed
 * natively in a chroot (Apache, PHP, WordPress, MariaDB: minutes of apt under TCG), so provisioning still runs every
 * step but apt finds its packages present. Chapter 3 is left out: its image (BCC's LLVM) and story are
 * chapters-vm.opt-in.ts's, and chapter 4 does not depend on it.
 *
 * The story: provision chapter 2, then `provision --chapters 4` adds chapter 4 alone (Apache and the database
 * installed, WordPress installed and serving its first post, both left stopped and disabled at boot as in the book;
 * chapter 2's nginx still serves 8003 and nothing of it on port 80) → a fresh learner fails every item with a hint →
 * fakes are caught (answers written without running ab; a netem qdisc left behind; a time that no ab run had) → a
 * scripted learner runs the commands README.md prints, block by block, and `check lesson-4` passes. Times are
 * printed, never asserted.
 */
import {readFileSync} from 'node:fs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {isolatedEnv, runCli, type CliResult} from '../helpers/cli.js'
import {addChapterAlone} from '../helpers/add-chapter.js'
import {phaseLog} from '../helpers/phases.js'
import {VM_TOOLS, bootVm, ensureChaptersImage, ensureTestImage, requireTools, type ChaptersImage, type RunningVm} from '../helpers/vm/index.js'
import {loadLesson} from '../../src/lessons/load.js'
import {packagePath} from '../../src/util/paths.js'
import {shellQuote} from '../../src/util/shell.js'

const skip = requireTools([...VM_TOOLS, 'chroot', 'mount'], {root: true})
const SHEET = '/home/chaos/answers/lesson-4.yaml'
const MINUTE = 60_000

interface CheckJson {id: string; status: string; message: string; hint?: string}

/**
 * The command blocks (lines indented by four spaces) under a heading of the lesson's README, in order: what the
 * scripted learner types. A heading is matched by its start, e.g. "### Experiment 1".
 */
function readmeBlocks(readme: string, heading: string): string[][] {
  const lines = readme.split('\n')
  const start = lines.findIndex((line) => line.startsWith(heading))
  if (start < 0) throw new Error(`README.md has no heading "${heading}"`)
  const blocks: string[][] = []
  let current: string[] = []
  for (const line of lines.slice(start + 1)) {
    if (/^#{1,3} /.test(line)) break
    if (line.startsWith('    ')) current.push(line.slice(4))
    else if (line.trim() !== '' && current.length > 0) {
      blocks.push(current)
      current = []
    }
  }
  if (current.length > 0) blocks.push(current)
  return blocks
}

/** ab's "Time per request: N [ms] (mean)" (the first of its two such lines). */
const abMean = (output: string): number | undefined => {
  const match = /^Time per request:\s+([\d.]+) \[ms\] \(mean\)$/m.exec(output)
  return match ? Number(match[1]) : undefined
}

describe.skipIf(skip !== undefined)('chapter 4 on the lab VM: provision --chapters 4, lesson 4 (Debian bookworm, QEMU)', () => {
  const {say, phase, timings} = phaseLog('chapter4-vm')
  const readme = readFileSync(packagePath('labs', 'lesson-4', 'README.md'), 'utf8')
  let image: ChaptersImage
  let vm: RunningVm
  let env: Record<string, string>
  const target = () => ['--target', `ssh://admin@127.0.0.1:${vm.port}`, '--identity', image.privateKeyPath]
  /** As the learner types it, in their home (no `sudo -i`: its login shell would expand $vars first). */
  const asChaos = (command: string, timeoutMs = 5 * MINUTE) => vm.ssh(`sudo -n -u chaos -H bash -c ${shellQuote(`cd ~ || exit 1; ${command}`)}`, {timeoutMs})
  /** A README block, line by line as typed; every line must succeed. */
  const typeBlock = async (block: string[]) => {
    const result = await asChaos(block.map((line) => `${line} || exit $?`).join('\n'), 10 * MINUTE)
    expect(result.code, `${block.join('\n')}\n${result.stdout}${result.stderr}`).toBe(0)
    return result.stdout
  }
  const check = () => runCli(['check', 'lesson-4', ...target(), '--json'], {env, timeoutMs: 5 * MINUTE})
  const byId = (result: CliResult): Record<string, CheckJson> => Object.fromEntries((result.json.checks as CheckJson[]).map((c) => [c.id, c]))
  const statuses = (result: CliResult): Record<string, string> => Object.fromEntries(Object.entries(byId(result)).map(([id, c]) => [id, c.status]))
  const answer = (values: Record<string, string>) => vm.ssh(`sudo -n -u chaos sed -i ${Object.entries(values).map(([key, value]) => `-e ${shellQuote(`s/^${key}:.*/${key}: ${value}/`)}`).join(' ')} ${SHEET}`)
  const measured: Record<string, number> = {}

  beforeAll(async () => {
    const base = await phase('test image', () => ensureTestImage())
    image = await phase('chapters image (chapters 2 and 4 preinstalled in a chroot)', () => ensureChaptersImage(base, [2, 4], {log: say}))
    say(`image ${image.key}: kernel ${image.kernel}, built ${image.built ? `now in ${image.buildSeconds} s` : `before (cached; its build took ${image.buildSeconds} s)`}`)
    vm = await phase('boot', () => bootVm({image, name: 'ch4-13', memoryMb: 1024, cpus: 2}))
    env = isolatedEnv()
  }, 45 * MINUTE)

  afterAll(async () => {
    await vm?.stop()
    say(`phases: ${timings.map(([name, s]) => `${name} ${s.toFixed(0)} s`).join(', ')}`)
  })

  it('the README\'s command blocks are where the scripted learner looks for them', () => {
    expect(readmeBlocks(readme, '## The chapter, as this VM runs it').length).toBeGreaterThanOrEqual(3)
    expect(readmeBlocks(readme, '### Experiment 1').map((block) => block.length)).toEqual([5, 1])
    expect(readmeBlocks(readme, '### Experiment 2').map((block) => block.length)).toEqual([5, 1])
  })

  it('provision --chapters 2, then --chapters 4 adds chapter 4 alone; Apache and the database stopped and off at boot', async () => {
    const first = await phase('provision --chapters 2', () => runCli(['provision', ...target(), '--chapters', '2', '--json'], {env, timeoutMs: 20 * MINUTE}))
    expect(first.code, first.stdout + first.stderr).toBe(0)
    const {summary} = await addChapterAlone({chapter: 4, expectChapters: [2, 4], target: target(), env, phase})
    say(summary)
    const labs = await runCli(['labs', ...target(), '--json'], {env})
    const lessons = Object.fromEntries((labs.json.lessons as {id: string; chapter: number; provisioned: boolean}[]).map((l) => [l.id, l]))
    expect(lessons['lesson-4']).toMatchObject({chapter: 4, provisioned: true})
    expect(lessons['lesson-3']).toMatchObject({chapter: 3, provisioned: false})
    // As the book's VM: installed, not running, not started at boot; FizzBuzz's nginx keeps 8003 and leaves 80 free.
    const units = await vm.ssh('for u in apache2 mariadb; do echo "$u $(systemctl is-active $u) $(systemctl is-enabled $u)"; done; ss -Hltn "sport = :80" | wc -l; curl -s http://127.0.0.1:8003/api/v1/fizzbuzz/15')
    expect(units.stdout).toMatch(/^apache2 inactive disabled\nmariadb inactive disabled\n0\n.*FizzBuzz/)
    const files = await vm.ssh('readlink /etc/wordpress/config-127.0.0.1.php; stat -c "%U %a" /opt/chaos-lab/chapter4/lab_facts.py ' + SHEET)
    expect(files.stdout.trim().split('\n')).toEqual(['config-localhost.php', 'root 755', 'chaos 644'])
  }, 45 * MINUTE)

  it('a fresh learner: exit 1 and a hint on every item', async () => {
    const fresh = await phase('check lesson-4, fresh learner', check)
    expect(fresh.code, fresh.stdout + fresh.stderr).toBe(1)
    const checks = byId(fresh)
    for (const c of Object.values(checks)) {
      expect(c.status, c.id).not.toBe('pass')
      expect(c.status, c.id).not.toBe('error')
      expect(c.hint, c.id).toBeTruthy()
    }
    expect(Object.keys(checks)).toEqual(loadLesson('lesson-4').checks.map((c) => c.id))
    expect(statuses(fresh)).toMatchObject({'database-running': 'fail', 'apache-running': 'fail', 'wordpress-serves-the-database': 'blocked', 'nothing-left-injected': 'blocked'})
  }, 10 * MINUTE)

  it('the blog is started as the README says; answers written without running ab are caught', async () => {
    const [start] = readmeBlocks(readme, '## The chapter, as this VM runs it')
    const page = await phase('start the blog', () => typeBlock(start ?? []))
    expect(page).toMatch(/^<title>\S/m)
    await answer({baseline_ms: '120', slow_disk_ms: '150', slow_connection_ms: '900', slower_experiment: 'connection'})
    const result = await phase('check lesson-4, answers without ab', check)
    expect(result.code).toBe(1)
    expect(statuses(result)).toMatchObject({
      'database-running': 'pass', 'apache-running': 'pass', 'wordpress-serves-the-database': 'pass',
      'baseline-measured': 'fail', 'slow-disk-experiment': 'fail', 'slow-connection-experiment': 'fail',
      'baseline-time': 'blocked', 'slow-disk-time': 'blocked', 'slow-connection-time': 'blocked', 'slower-experiment': 'blocked',
    })
  }, 10 * MINUTE)

  it('the learner runs both experiments as the README prints them; a netem qdisc left behind and a made-up time are caught', async () => {
    const steady = readmeBlocks(readme, '## The chapter, as this VM runs it')
    const baseline = await phase('steady state: ab', () => typeBlock(steady[1] ?? []))
    const queries = await typeBlock(steady[2] ?? [])
    const counts = [...queries.matchAll(/Questions\s+(\d+)/g)].map((m) => Number(m[1]))
    say(`queries for one page: ${(counts[1] ?? 0) - (counts[0] ?? 0) - 1}`)
    const [diskOn, diskOff] = readmeBlocks(readme, '### Experiment 1')
    const disk = await phase('experiment 1: slow disks (limits, restart, ab)', () => typeBlock(diskOn ?? []))
    expect(disk).toMatch(/^IOReadIOPSMax=\/var\/lib\/mysql 10$/m)
    await typeBlock(diskOff ?? [])
    const [netemOn, netemOff] = readmeBlocks(readme, '### Experiment 2')
    const netem = await phase('experiment 2: slow connection (tc netem, ab)', () => typeBlock(netemOn ?? []))
    expect(netem).toMatch(/netem 30: parent 1:3 .*delay 50ms/)
    for (const [key, output] of [['baseline_ms', baseline], ['slow_disk_ms', disk], ['slow_connection_ms', netem]] as const) {
      const mean = abMean(output)
      expect(mean, `${key}: ab printed no time per request:\n${output}`).toBeDefined()
      measured[key] = mean ?? 0
    }
    say(`ab's time per request (ms): baseline ${measured.baseline_ms}, slow disk ${measured.slow_disk_ms}, slow connection ${measured.slow_connection_ms}`)
    const slower = (measured.slow_disk_ms ?? 0) > (measured.slow_connection_ms ?? 0) ? 'disk' : 'connection'
    // The learner forgot Experiment 2's last block, and made up the slow-disk time (ten times ab's figure).
    await answer({baseline_ms: `${measured.baseline_ms} [ms]`, slow_disk_ms: String(10 * (measured.slow_disk_ms ?? 0)), slow_connection_ms: String(measured.slow_connection_ms), slower_experiment: slower})
    const caught = await phase('check lesson-4, netem left behind and a made-up time', check)
    const checks = byId(caught)
    say(`caught: nothing-left-injected: ${checks['nothing-left-injected']?.message ?? ''}; slow-disk-time: ${checks['slow-disk-time']?.message ?? ''}`)
    expect(caught.code).toBe(1)
    expect(statuses(caught)).toMatchObject({'slow-disk-experiment': 'pass', 'slow-connection-experiment': 'pass', 'nothing-left-injected': 'fail', 'slow-disk-time': 'fail', 'baseline-time': 'pass', 'slow-connection-time': 'pass'})
    expect(checks['nothing-left-injected']?.message).toMatch(/netem qdiscs left: 1/)
    // Now as printed: the qdisc goes, and the time is ab's.
    await typeBlock(netemOff ?? [])
    await answer({slow_disk_ms: String(measured.slow_disk_ms)})
    const passed = await phase('check lesson-4, the learner\'s work', check)
    say(`check lesson-4: ${(passed.json.checks as CheckJson[]).map((c) => `${c.id} ${c.status} (${c.message})`).join('; ')}`)
    expect(passed.code, JSON.stringify(passed.json.checks, null, 1)).toBe(0)
  }, 30 * MINUTE)
})
