/**
 * `npm run bench -- fleet`: `chaos-lab check lesson-1` against 1 target and against 16 targets, in the same run
 * on the same machine, as a wall-time ratio (target: at most 3; one host at a time would be ~16, five at a time
 * ~3.2). Measured twice: with every target held to its own share of a core (learner VMs each have their own CPU;
 * the target applies here), and with all of them sharing this machine's cores (bound by their CPU, with the floor
 * printed).
 *
 * The 16 targets are systemd-nspawn containers of the test image (test/helpers/vm), each in its own network
 * namespace with its own sshd, each inside a memory cgroup. They are provisioned once, not 16 times:
 * test/helpers/fleet/images.ts provisions one container with the real `chaos-lab provision`, copies its root
 * file system into the test cache (keyed on the image and the provisioning folder), and every target boots
 * an overlay of that copy. The 1-target runs use the first of the same 16 containers (--limit), while the
 * other 15 sit idle, so both sides see the same machine. Needs root, like the e2e tests.
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {availableParallelism, loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'

import {startFleet, writeIniInventory} from '../test/helpers/fleet/fleet.js'
import {provisionedImage} from '../test/helpers/fleet/images.js'
import {ensureTestImage, requireContainers, type Container} from '../test/helpers/vm/index.js'
import {interleaved, ratioLine} from './measure.js'

const TARGETS = 16
const MEMORY_MB = 384
const ROUNDS = 3
const TICK_S = 0.01 // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s on Linux

/** utime + stime + cutime + cstime (seconds) of one /proc/PID/stat. */
function statCpu(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return [11, 12, 13, 14].reduce((total, index) => total + Number(fields[index] ?? 0), 0) * TICK_S
}

/** The CPU this process's waited-for children used (seconds): chaos-lab's own, when measured around spawnSync. */
function childrenCpu(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[13] ?? 0) + Number(fields[14] ?? 0)) * TICK_S
}

/**
 * CPU seconds used so far by every process of the containers, including the children they reaped (an SSH
 * session's sudo, systemctl, curl…).
 */
function targetsCpu(containers: readonly Container[]): number {
  let total = 0
  for (const pid of containers.flatMap((container) => container.pids())) {
    try {
      total += statCpu(readFileSync(`/proc/${pid}/stat`, 'utf8'))
    } catch {
      // The process ended meanwhile.
    }
  }
  return total
}

export async function benchFleet(root: string): Promise<string[]> {
  const unavailable = requireContainers()
  if (unavailable) return [`fleet: skipped (${unavailable})`]
  const log = (line: string) => { process.stderr.write(`bench fleet: ${line}\n`) }
  const image = await ensureTestImage({log})
  let started = Date.now()
  const provisioned = await provisionedImage(image, {log})
  log(`provisioned tree ${provisioned.key} ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${provisioned.built ? 'made now' : 'cached'})`)

  const work = mkdtempSync(join(tmpdir(), 'chaos-lab-bench-fleet-'))
  let containers: Container[] = []
  try {
    started = Date.now()
    const names = Array.from({length: TARGETS}, (_, i) => `target-${String(i + 1).padStart(2, '0')}`)
    containers = await startFleet(provisioned, names, MEMORY_MB)
    log(`${TARGETS} containers answered SSH in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    const inventory = join(work, 'class.ini')
    writeIniInventory(inventory, {row1: containers.slice(0, TARGETS / 2), row2: containers.slice(TARGETS / 2)}, {user: 'admin', identityFile: image.privateKeyPath})

    // lesson-1 compares the machine's size with --memory/--cpus: give what a container shows (the host's kernel).
    const facts = await containers[0]!.ssh(`awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo; nproc`)
    const [memory = '', cpus = ''] = facts.stdout.trim().split('\n')
    const env = {...process.env, XDG_CONFIG_HOME: join(work, 'config')}
    const bin = join(root, 'bin', 'run.js')
    const cpu: Record<'one' | 'all', {targets: number[]; cli: number[]}> = {one: {targets: [], cli: []}, all: {targets: [], cli: []}}
    const check = (name: 'one' | 'all', extra: string[]) => () => {
      const args = [bin, 'check', 'lesson-1', '--inventory', inventory, '--memory', memory, '--cpus', cpus, '--json', ...extra]
      const targetsBefore = targetsCpu(containers)
      const cliBefore = childrenCpu()
      const begin = process.hrtime.bigint()
      const result = spawnSync(process.execPath, args, {env, encoding: 'utf8', timeout: 10 * 60_000, maxBuffer: 64 * 1024 * 1024})
      const ms = Number(process.hrtime.bigint() - begin) / 1e6
      if (result.status !== 0) throw new Error(`check ${extra.join(' ')} exited ${result.status}: ${result.stdout.slice(0, 2000)}${result.stderr.slice(-2000)}`)
      cpu[name].cli.push(childrenCpu() - cliBefore)
      cpu[name].targets.push(targetsCpu(containers) - targetsBefore)
      return ms
    }
    const measure = () => {
      // Warm-up: host keys go into known_hosts, the page cache holds node and the lesson.
      check('all', [])()
      cpu.one = {targets: [], cli: []}
      cpu.all = {targets: [], cli: []}
      return interleaved({one: check('one', ['--limit', names[0]!]), all: check('all', [])}, ROUNDS)
    }
    const mean = (values: number[]) => values.reduce((total, value) => total + value, 0) / values.length
    const cores = availableParallelism()

    // 1. Every target with a CPU share of its own, as learner VMs on hosts (or vCPUs) of their own have: the
    //    quotas add up to less than this machine's cores, so one target's work never slows another's, and the
    //    ratio measures the fan-out itself. This is the model (5 at a time would be ~3.2).
    const share = Math.min(0.25, (cores - 0.5) / TARGETS)
    for (const container of containers) container.limitCpu(share)
    const own = measure()
    const ownCpu = mean(cpu.one.targets)
    // 2. All targets sharing this machine's cores with each other and with chaos-lab: bound by CPU, not by the
    //    fan-out. The targets' own work (sshd, PAM, sudo, systemctl, curl, FizzBuzz) sets a floor for 16.
    for (const container of containers) container.limitCpu(undefined)
    const shared = measure()
    const floorMs = ((mean(cpu.all.targets) + mean(cpu.all.cli)) / cores) * 1000
    return [
      ratioLine(`check lesson-1: ${TARGETS} / 1 target, ${share.toFixed(2)} CPU each`, own.all!, own.one!, 3),
      `  (each target limited to ${share.toFixed(2)} of a core, a cgroup CPU quota; check lesson-1 needs ${ownCpu.toFixed(2)} s of CPU on a target; default --concurrency 8)`,
      ratioLine(`check lesson-1: ${TARGETS} / 1 target, all on ${cores} shared cores`, shared.all!, shared.one!),
      `  CPU per run: inside the targets ${mean(cpu.one.targets).toFixed(1)} s (1 target) / ${mean(cpu.all.targets).toFixed(1)} s (${TARGETS}); ` +
        `chaos-lab itself ${mean(cpu.one.cli).toFixed(1)} s / ${mean(cpu.all.cli).toFixed(1)} s`,
      `  ${TARGETS} targets on this machine's ${cores} cores need at least ${(floorMs / 1000).toFixed(1)} s of CPU time: ` +
        `no fan-out gets below a ratio of ${(floorMs / shared.one!).toFixed(2)} here (load average ${loadavg()[0]!.toFixed(1)})`,
    ]
  } finally {
    await Promise.all(containers.map((container) => container.stop()))
    rmSync(work, {recursive: true, force: true})
  }
}
