import {shellQuote} from '../../src/util/shell.js'
import type {SshOptions, SshResult} from './vm/ssh.js'

/**
 * Chapter 2 as a learner does it on a test VM, for the e2e files that tell the chapter's story on a machine
 * (the amd64 lab VM, the arm64 one): the book's folder, FizzBuzz's answers, the answers of lesson-2's sheet,
 * the book's start-limit fix and the TCG time scaling of systemd's start-limit window.
 */

/** Something that runs a shell command over SSH as admin (passwordless sudo): a RunningVm. */
export interface Shell {
  ssh(command: string, options?: SshOptions): Promise<SshResult>
}

/** The book's folder for chapter 2. */
export const CHAPTER2 = '/home/chaos/src/examples/killer-whiles'
export const LESSON2_SHEET = '/home/chaos/answers/lesson-2.yaml'

/** What the book's chapter 2 teaches, as lesson-2's answer sheet asks for it. */
export const LESSON2_ANSWERS: Readonly<Record<string, string>> = {
  mystery000_exit_code: '136', mystery000_signal: 'SIGFPE', sigterm_exit_code: '143', sigkill_exit_code: '137',
  mystery001_killed_by: 'the OOM killer', oom_kill_allocating_task: '0', oom_dump_tasks: '1',
}

export function fizzbuzz(n: number): string {
  return n % 15 === 0 ? 'FizzBuzz' : n % 3 === 0 ? 'Fizz' : n % 5 === 0 ? 'Buzz' : String(n)
}

/**
 * Runs `command` as the learner, in the chapter folder. No `sudo -i`: its login shell would expand $vars first.
 * `cd … || exit 1;`, not `cd … &&`: a command that starts with a background job (`./run_ab.sh & …`) would take the
 * cd along.
 */
export function asChaos(vm: Shell, command: string, timeoutMs = 120_000): Promise<SshResult> {
  return vm.ssh(`sudo -n -u chaos -H bash -c ${shellQuote(`cd ${CHAPTER2} || exit 1; ${command}`)}`, {timeoutMs})
}

/** The learner's answers, written into the sheet as a learner would (sed over the template's keys). */
export function writeLesson2Answers(vm: Shell): Promise<SshResult> {
  const edits = Object.entries(LESSON2_ANSWERS).map(([key, value]) => `-e ${shellQuote(`s/^${key}:.*/${key}: ${value}/`)}`)
  return vm.ssh(`sudo -n -u chaos sed -i ${edits.join(' ')} ${LESSON2_SHEET}`)
}

/** The book's fix: a drop-in with StartLimitIntervalSec=0 for each unit, as `systemctl edit` would write it. */
export function applyStartLimitFix(vm: Shell, units: readonly string[]): Promise<SshResult> {
  const dropIns = units.map((unit) => `mkdir -p /etc/systemd/system/${unit}.service.d && printf '[Unit]\\nStartLimitIntervalSec=0\\n' > /etc/systemd/system/${unit}.service.d/fix.conf`)
  return vm.ssh(`sudo -n bash -c ${shellQuote(`${dropIns.join(' && ')} && systemctl daemon-reload`)}`)
}

/**
 * Time scaled for emulation, in the test machine's systemd (not in the lab): the book's killer takes 1.25 s plus
 * a `ps | grep | sudo kill` per kill, which under TCG on a shared 2-core host costs 0.5 to 10 s instead of
 * milliseconds. systemd gives up after 5 starts within DefaultStartLimitIntervalSec (10 s); 2 minutes keeps "six
 * kills in a row trip the limit" true at that speed. The units themselves set nothing, as in the book. Returns each
 * unit's window as systemd shows it (`2min`).
 */
export async function scaleStartLimitForTcg(vm: Shell): Promise<string[]> {
  await vm.ssh(`sudo -n bash -c ${shellQuote('mkdir -p /etc/systemd/system.conf.d && printf "[Manager]\\nDefaultStartLimitIntervalSec=120s\\n" > /etc/systemd/system.conf.d/90-test-tcg-time.conf && systemctl daemon-reexec')}`)
  return (await vm.ssh('systemctl show -p StartLimitIntervalUSec --value faas001_a faas001_b')).stdout.split('\n').filter(Boolean)
}

/** The VM's clock (seconds since the epoch), to read its journal from a moment on. */
export async function vmNow(vm: Shell): Promise<number> {
  return Number((await vm.ssh('date +%s')).stdout.trim())
}

/**
 * The FizzBuzz units whose start limit systemd hit since `since` (vmNow()): its journal's "Start request repeated
 * too quickly". Not `systemctl show -p Result`: a unit whose last process exited 143 may keep Result=exit-code after
 * the limit trips (seen on the arm64 VM), or show start-limit-hit (seen on amd64).
 */
export async function startLimitHits(vm: Shell, since: number): Promise<string[]> {
  const journal = await vm.ssh(`sudo -n journalctl -u faas001_a -u faas001_b -o cat --no-pager --since @${since} | grep 'Start request repeated too quickly' || true`)
  return ['faas001_a', 'faas001_b'].filter((unit) => journal.stdout.includes(`${unit}.service: Start request repeated too quickly`))
}

/** Undoes scaleStartLimitForTcg: systemd's own 10 s window again, for whatever runs after the experiment. */
export async function restoreStartLimit(vm: Shell): Promise<void> {
  await vm.ssh('sudo -n rm -f /etc/systemd/system.conf.d/90-test-tcg-time.conf && sudo -n systemctl daemon-reexec')
}

/** Waits (bounded, 30 s) until both FizzBuzz instances are active again, e.g. after a kill or a reset-failed. */
export function waitForBothInstances(vm: Shell): Promise<SshResult> {
  return vm.ssh('for i in $(seq 1 60); do systemctl is-active -q faas001_a faas001_b && break; sleep 0.5; done; systemctl is-active faas001_a faas001_b')
}
