/**
 * A class of 8 learner machines, for real: 8 systemd-nspawn containers of the test image, each in its own
 * network namespace with its own sshd, each inside a 512 MB memory cgroup, all reached over SSH by the BUILT
 * chaos-lab from one Ansible INI inventory. provision, status, check (with the class report) and reset fan
 * out over them; one machine is killed in the middle of a `check` and is reported unreachable while the
 * others finish.
 *
 * Cost (2 cores): the containers start from a cached tree with provisioning's Debian packages already
 * installed (test/helpers/fleet/images.ts: the packages are downloaded once per cache key by one
 * container and installed once by one container). Every target still runs every provisioning step — user,
 * sudo, sshd drop-in and reload, dbus/logind, the chapter folder and its gcc builds, the FizzBuzz units,
 * nginx, the answer sheet — but apt finds nothing missing. That takes dpkg's ~30 CPU-seconds per target
 * out of the run (8 fresh installs at once took 4.5 min here against 1 min) without taking out anything
 * chaos-lab itself does. Concurrency is proven from chaos-lab's own numbers: the per-host provisioning
 * times add up to several times the wall time of the run, which a one-at-a-time run cannot do.
 * CHAOS_LAB_FLEET_FRESH=1 provisions from the image without the packages instead: the same downloaded
 * .debs sit in the read-only lower layer every container shares (the apt archive cache), so the 8 apt
 * runs fetch nothing and the containers need no route to the outside.
 *
 * CI (CI=true) fails instead of skipping when root, systemd-nspawn or the cgroup v1 memory controller is
 * missing.
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, readdirSync} from 'node:fs'
import {availableParallelism, tmpdir} from 'node:os'
import {basename, join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ROOT, isolatedEnv, runCli} from '../helpers/cli.js'
import {readCsv, startFleet, stopFleet, waitForCliConnection, writeIniInventory} from '../helpers/fleet/fleet.js'
import {aptSeededImage, markAptListsFresh, packagesImage} from '../helpers/fleet/images.js'
import {ensureTestImage, requireContainers, requireTools, type Container} from '../helpers/vm/index.js'
import {cmdlineOf} from '../helpers/vm/run.js'

// Both throw when CI=true and something is missing. `ss` (iproute2) sees chaos-lab connect to the machine it kills.
const skip = requireContainers() ?? requireTools(['ss', 'tar'])
if (skip) console.warn(`fleet e2e: skipped: ${skip}`)

const FRESH = process.env.CHAOS_LAB_FLEET_FRESH === '1'
const NAMES = Array.from({length: 8}, (_, i) => `learner-${String(i + 1).padStart(2, '0')}`)
const VICTIM = 'learner-08'
const MEMORY_MB = 512
const LESSON1_CHECKS = ['memory', 'cpus', 'user-chaos', 'tools', 'programs', 'faas001-a-active', 'faas001-b-active', 'nginx-answers', 'fizzbuzz', 'no-swap', 'answer-sheet']
const PRISTINE_ANSWERS = readFileSync(join(ROOT, 'provisioning/files/answers/lesson-2.yaml'), 'utf8')

const say = (line: string) => {
  console.log(`fleet e2e: ${line}`)
}
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** The learner's answer sheet on one machine: the fresh one with two answers filled in, naming the machine. */
function learnerAnswers(host: string): string {
  return PRISTINE_ANSWERS.replace(/^mystery000_exit_code:.*$/m, 'mystery000_exit_code: 139').replace(/^mystery001_killed_by:.*$/m, `mystery001_killed_by: the OOM killer (${host})`)
}

describe.skipIf(skip !== undefined)('a class of 8 machines over SSH (systemd-nspawn)', () => {
  let containers: Container[] = []
  let work = ''
  let inventory = ''
  const env = isolatedEnv()
  /**
   * What the containers are configured with, which lesson-1 compares with the machine (--memory/--cpus): their
   * memory cgroup limit, and the CPUs they may run on (nproc). A container has the host's kernel, so its
   * MemTotal is the host's: the memory check (at least 85% of the configured size) holds for any host that can
   * give the container its limit.
   */
  const configured = {memoryMb: MEMORY_MB, cpus: Math.min(2, availableParallelism())}

  const byName = (name: string) => {
    const found = containers.find((container) => container.name === name)
    if (!found) throw new Error(`no container ${name}`)
    return found
  }
  const live = () => containers.filter((container) => container.name !== VICTIM)

  beforeAll(async () => {
    const image = await ensureTestImage({log: say})
    let started = Date.now()
    const fleetImage = FRESH ? await aptSeededImage(image, {log: say}) : await packagesImage(image, {log: say})
    say(`${FRESH ? 'apt-seeded' : 'packages'} tree ${fleetImage.key} ready in ${seconds(Date.now() - started)} (${fleetImage.built ? 'made now' : 'cached'})`)
    started = Date.now()
    containers = await startFleet(fleetImage, NAMES, MEMORY_MB, configured.cpus)
    say(`${containers.length} containers answered SSH in ${seconds(Date.now() - started)}`)
    if (FRESH) await Promise.all(containers.map((container) => markAptListsFresh(container)))

    work = mkdtempSync(join(tmpdir(), 'chaos-lab-fleet-'))
    inventory = join(work, 'class.ini')
    writeIniInventory(inventory, {row1: containers.slice(0, 4), row2: containers.slice(4)}, {user: 'admin', identityFile: image.privateKeyPath})

    // The containers are what was configured: checks are held to these numbers, never to what a container shows.
    const facts = await containers[0]!.ssh('nproc; cat /sys/fs/cgroup/memory/memory.limit_in_bytes')
    const [cpus = '', limit = ''] = facts.stdout.trim().split('\n')
    expect(Number(cpus)).toBe(configured.cpus)
    expect(Number(limit)).toBe(configured.memoryMb * 1024 * 1024)
  }, 40 * 60_000)

  afterAll(() => stopFleet(containers, work, env), 120_000)

  it('provisions all 8 at once from the inventory', async () => {
    const result = await runCli(['provision', '--inventory', inventory, '--chapters', '2', '--json'], {env, timeoutMs: 15 * 60_000})
    expect(result.code, result.stderr).toBe(0)
    expect(result.json.summary).toEqual({total: 8, ok: 8, unreachable: 0, error: 0})
    expect(result.json.hosts.map((host: {host: string}) => host.host)).toEqual(NAMES)
    for (const host of result.json.hosts) {
      expect(host).toMatchObject({status: 'ok', exitCode: 0})
      expect(host.result.changed).toBe(true)
      expect(host.result.steps.map((step: {name: string; status: string}) => `${step.name}:${step.status}`)).toEqual(['base:done', 'desktop:done', 'chapter2:done'])
    }
    const durations: number[] = result.json.hosts.map((host: {result: {durationMs: number}}) => host.result.durationMs)
    const sum = durations.reduce((total, ms) => total + ms, 0)
    const overlap = sum / result.ms
    say(
      `provision fan-out: 8 hosts in ${seconds(result.ms)} wall; per host ${seconds(Math.min(...durations))}–${seconds(Math.max(...durations))}, ` +
        `${seconds(sum)} in all: ${overlap.toFixed(1)} hosts at work on average`,
    )
    // One host at a time would give at most 1: the per-host times overlap.
    expect(overlap).toBeGreaterThan(3)
  }, 16 * 60_000)

  it('status: every machine reachable and provisioned', async () => {
    const result = await runCli(['status', '--inventory', inventory, '--json'], {env, timeoutMs: 120_000})
    expect(result.code, result.stderr).toBe(0)
    expect(result.json.summary).toEqual({total: 8, ok: 8, unreachable: 0, error: 0})
    for (const host of result.json.hosts) {
      expect(host.status).toBe('ok')
      expect(host.result.provisioned).toEqual(expect.arrayContaining(['base', 'chapter2']))
    }
    say(`status fan-out: ${seconds(result.ms)}`)
  }, 180_000)

  it('check lesson-1 on the class: every check passes on every machine, and the class report says so', async () => {
    const report = join(work, 'report')
    const size = ['--memory', String(configured.memoryMb), '--cpus', String(configured.cpus)]
    const one = await runCli(['check', 'lesson-1', '--inventory', inventory, '--limit', NAMES[0]!, ...size, '--json'], {env, timeoutMs: 120_000})
    expect(one.code, one.stdout).toBe(0)
    // The comparison is real: a machine with fewer CPUs than configured fails the cpus check.
    const more = await runCli(['check', 'lesson-1', '--inventory', inventory, '--limit', NAMES[0]!, '--memory', String(configured.memoryMb), '--cpus', String(configured.cpus + 1), '--json'], {env, timeoutMs: 120_000})
    expect(more.code, more.stdout).toBe(1)
    const cpusCheck = (more.json.hosts[0].result.checks as {id: string; status: string; message: string}[]).find((c) => c.id === 'cpus')
    expect(cpusCheck).toMatchObject({status: 'fail', message: `CPUs: ${configured.cpus} (expected ${configured.cpus + 1} = cpus ${configured.cpus + 1}, from --memory/--cpus)`})
    const result = await runCli(['check', 'lesson-1', '--inventory', inventory, '--report', report, ...size, '--json'], {env, timeoutMs: 300_000})
    say(`check fan-out: 1 host ${seconds(one.ms)}, 8 hosts ${seconds(result.ms)} (ratio ${(result.ms / one.ms).toFixed(2)})`)
    expect(result.code, JSON.stringify(result.json?.hosts?.filter((host: {exitCode: number}) => host.exitCode !== 0), null, 1)).toBe(0)
    expect(result.json).toMatchObject({lesson: 'lesson-1', summary: {total: 8, ok: 8, unreachable: 0, error: 0}, exitCode: 0})
    for (const host of result.json.hosts) {
      expect(host).toMatchObject({status: 'ok', exitCode: 0})
      expect(host.result.summary).toEqual({total: 11, pass: 11, fail: 0, blocked: 0, error: 0})
      expect(host.result.checks.map((check: {id: string}) => check.id)).toEqual(LESSON1_CHECKS)
    }

    expect(readdirSync(join(report, 'hosts')).sort()).toEqual(NAMES.map((name) => `${name}.json`))
    for (const name of NAMES) {
      const hostFile = JSON.parse(readFileSync(join(report, 'hosts', `${name}.json`), 'utf8'))
      expect(JSON.stringify(hostFile)).toContain(name)
    }
    const csv = readCsv(join(report, 'matrix.csv'))
    expect(csv[0]).toEqual(['host', 'status', 'passed', 'total', ...LESSON1_CHECKS])
    expect(csv.slice(1).map((row) => row[0])).toEqual(NAMES)
    for (const row of csv.slice(1)) expect(row.slice(1)).toEqual(['checked', '11', '11', ...LESSON1_CHECKS.map(() => 'pass')])
    const junit = readFileSync(join(report, 'junit.xml'), 'utf8')
    expect(junit).toMatch(/<testsuites[^>]*failures="0"/)
    for (const name of NAMES) expect(junit).toContain(name)
    const html = readFileSync(join(report, 'report.html'), 'utf8')
    for (const name of NAMES) expect(html).toContain(name)
    expect(result.json.reportFiles.map((file: string) => basename(file))).toEqual(expect.arrayContaining(['matrix.csv', 'junit.xml', 'report.html']))
  }, 420_000)

  it('a machine killed in the middle of `check` is reported unreachable; the other 7 finish; exit code 3', async () => {
    const victim = byName(VICTIM)
    // Keep the victim's run busy for a few seconds: faas001-a-active retries (3 tries, 2 s apart) while the
    // unit is stopped. The kill lands when the first batch of checks has reported (its `bash -s` has come and
    // gone in the victim) and the retries are still going: in the middle of its checks, however loaded the host.
    expect((await victim.ssh('sudo -n systemctl stop faas001_a')).code).toBe(0)
    const report = join(work, 'report-kill')
    const size = ['--memory', String(configured.memoryMb), '--cpus', String(configured.cpus)]
    const run = runCli(['check', 'lesson-1', '--inventory', inventory, '--report', report, ...size, '--json'], {env, timeoutMs: 300_000})
    const cli = await waitForCliConnection(victim.host, 60_000)
    const batchRunning = () => victim.pids().some((pid) => cmdlineOf(pid).trim() === 'bash -s')
    let sawBatch = false
    for (let poll = 0; poll < 600 && !(sawBatch && !batchRunning()); poll++) {
      sawBatch ||= batchRunning()
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    say(`${VICTIM}: first batch of checks ${sawBatch ? 'seen and done' : 'never seen (the kill comes after 12 s)'}`)
    const killedAt = Date.now()
    // A crash, not a shutdown: SIGKILL to systemd-nspawn; stop() then kills what is left in its cgroup and
    // removes the namespace.
    process.kill(victim.pid, 'SIGKILL')
    await victim.stop()
    say(`killed ${VICTIM} (chaos-lab pid ${cli} was connected to it)`)
    const result = await run
    say(`check with one machine killed: ${seconds(result.ms)}; the run ended ${seconds(Date.now() - killedAt)} after the kill`)

    expect(result.code).toBe(3)
    expect(result.json.exitCode).toBe(3)
    expect(result.json.summary).toEqual({total: 8, ok: 7, unreachable: 1, error: 0})
    const victimOutcome = result.json.hosts.find((host: {host: string}) => host.host === VICTIM)
    // Connected, then lost: the checks it got through before the kill are kept, the rest could not run.
    expect(victimOutcome).toMatchObject({status: 'unreachable', exitCode: 3, error: {code: 'connection_lost'}})
    expect(victimOutcome.result.checks.map((check: {id: string}) => check.id)).toEqual(LESSON1_CHECKS)
    expect(victimOutcome.result.summary.pass).toBeGreaterThan(0)
    expect(victimOutcome.result.summary.error).toBeGreaterThan(0)
    say(`${VICTIM} before the kill: ${JSON.stringify(victimOutcome.result.summary)}`)
    for (const host of result.json.hosts.filter((outcome: {host: string}) => outcome.host !== VICTIM)) {
      expect(host).toMatchObject({status: 'ok', exitCode: 0})
      expect(host.result.summary.pass).toBe(11)
    }
    const csv = readCsv(join(report, 'matrix.csv'))
    expect(csv.find((row) => row[0] === VICTIM)?.[1]).toBe('unreachable')
    expect(csv.filter((row) => row[1] === 'checked').map((row) => row[0])).toEqual(NAMES.filter((name) => name !== VICTIM))
  }, 360_000)

  it('reset lesson-2 on the live machines: each learner\'s work is archived first, then the lesson is fresh again', async () => {
    const machines = live()
    for (const container of machines) {
      const write = await container.ssh(
        'sudo -n -u chaos tee /home/chaos/answers/lesson-2.yaml >/dev/null && ' +
          'echo "my notes" | sudo -n -u chaos tee /home/chaos/src/examples/killer-whiles/my-notes.txt >/dev/null',
        {input: learnerAnswers(container.name)},
      )
      expect(write.code, write.stderr).toBe(0)
    }
    const backups = join(work, 'backups')
    const result = await runCli(['reset', 'lesson-2', '--inventory', inventory, '--limit', `!${VICTIM}`, '--yes', '--backup-dir', backups, '--json'], {env, timeoutMs: 600_000})
    say(`reset fan-out: ${machines.length} hosts in ${seconds(result.ms)}`)
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.json.summary).toEqual({total: 7, ok: 7, unreachable: 0, error: 0})

    const archives = readdirSync(backups).sort()
    expect(archives).toHaveLength(7)
    for (const container of machines) {
      const outcome = result.json.hosts.find((host: {host: string}) => host.host === container.name)
      expect(outcome).toMatchObject({status: 'ok', exitCode: 0, result: {scope: 'lesson-2'}})
      const file: string = outcome.result.backup.file
      expect(basename(file)).toMatch(new RegExp(`^chaos-lab-backup-${container.name}-.+\\.tar\\.gz$`))
      expect(existsSync(file)).toBe(true)
      const list = spawnSync('tar', ['-tzf', file], {encoding: 'utf8', timeout: 30_000})
      expect(list.status, list.stderr).toBe(0)
      const entries = list.stdout.split('\n')
      expect(entries).toContain('home/chaos/answers/lesson-2.yaml')
      expect(entries).toContain('home/chaos/src/examples/killer-whiles/my-notes.txt')
      const sheet = spawnSync('tar', ['-xzOf', file, 'home/chaos/answers/lesson-2.yaml'], {encoding: 'utf8', timeout: 30_000})
      expect(sheet.stdout).toBe(learnerAnswers(container.name))

      const after = await container.ssh(
        'sudo -n cat /home/chaos/answers/lesson-2.yaml; echo "--"; ' +
          'sudo -n test -e /home/chaos/src/examples/killer-whiles/my-notes.txt && echo notes-kept || echo notes-gone; ' +
          'systemctl is-active faas001_a faas001_b nginx',
      )
      const [fresh = '', rest = ''] = after.stdout.split('--\n')
      expect(fresh).toBe(PRISTINE_ANSWERS)
      expect(rest.trim().split('\n')).toEqual(['notes-gone', 'active', 'active', 'active'])
    }
  }, 720_000)
})
