/**
 * The whole learner story on one real VM (Debian under QEMU), driven through the BUILT binary, once per Debian
 * release: bookworm (12) and trixie (13, whose systemd, Python and nginx are closer to Ubuntu 24.04's):
 * provision from scratch → the chapter 2 behaviours the book describes → `chaos-lab experiment run killer-while`
 * before the fix, and interrupted → idempotent rerun → a run cut off mid-step converges → the learner's story with
 * `check lesson-2` (its killer-while check runs the same experiment on the same engine) and the experiment after
 * the fix → bad targets get clear errors and exit codes. The experiment's stories share this VM's boot and
 * provisioning rather than boot one of their own (CI's time).
 */
import {existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {Ajv} from 'ajv'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {LESSON2_SHEET, applyStartLimitFix, asChaos as asChaosOn, fizzbuzz, restoreStartLimit, scaleStartLimitForTcg, startLimitHits, vmNow, writeLesson2Answers} from '../helpers/chapter2.js'
import {isolatedEnv, runCli, ROOT, type CliResult} from '../helpers/cli.js'
import {VM_TOOLS, bootVm, ensureTestImage, requireTools, testSuites, type RunningVm, type TestImage} from '../helpers/vm/index.js'
import {run} from '../helpers/vm/run.js'
import {loadLesson} from '../../src/lessons/load.js'
import type {Journal} from '../../src/experiments/journal.js'
import {sumSeconds, whySummary} from '../../src/experiments/load.js'
import {shellQuote} from '../../src/util/shell.js'

const skip = requireTools([...VM_TOOLS, 'tar'], {root: true})
const shellErrorLine = /^[^\n]*: (command not found|Operation not permitted|Permission denied|No such file or directory)\r?$|is not allowed to (run|execute)|^No manual entry/m

const validateJournal = new Ajv({allErrors: true}).compile(JSON.parse(readFileSync(join(ROOT, 'schemas', 'experiment-journal.schema.json'), 'utf8')) as object)
const ACCESS_LOG = '/var/log/nginx/fizzbuzz.access.log'
/**
 * The experiment's chart against nginx: every request the load generator sent went through nginx, which logged it
 * with its status and the generator's User-Agent (chaos-lab-load; the probes' and rollbacks' curl requests are left
 * out). The generator lets its clients finish their last request before its totals, so the counts agree but for
 * requests a client gave up on (30 s without an answer, ab's default: counted failed by the generator, logged later
 * or never by nginx): at most one per client, 10.
 */
const NGINX_TOLERANCE = 10

describe.skipIf(skip !== undefined).each(testSuites())('the lab VM (Debian %s), provisioned over SSH by the built binary', (suite) => {
  let image: TestImage
  let vm: RunningVm
  let env: Record<string, string>
  let first: CliResult
  const target = () => ['--target', `ssh://admin@127.0.0.1:${vm.port}`, '--identity', image.privateKeyPath]
  /** Runs as the learner, in the chapter folder (chapter2.ts's asChaos on this file's VM). */
  const asChaos = (command: string, timeoutMs = 120_000) => asChaosOn(vm, command, timeoutMs)

  // chaos-lab experiment run killer-while on this VM: the run, and what every run must show.
  let artifacts = ''
  const active = async () => (await vm.ssh('systemctl is-active faas001_a faas001_b || true')).stdout.trim().split('\n')
  /** Both instances answer directly and nginx answers, then the book's pause: units restarted a moment ago may still be slow or inside their start-limit window. */
  const settle = async () => {
    // Both instances answer, and nginx answers 200 five times in a row: after kills nginx may hold both upstreams
    // as failed for its fail_timeout (10 s) and answer 502 ("no live upstreams"), which a bare curl takes as an answer.
    await vm.ssh('ok=0; for i in $(seq 1 120); do if curl -s -o /dev/null --max-time 1 http://127.0.0.1:8001/ && curl -s -o /dev/null --max-time 1 http://127.0.0.1:8002/ && curl -sf -o /dev/null --max-time 5 http://127.0.0.1:8003/api/v1/; then ok=$((ok + 1)); [ $ok -ge 5 ] && break; else ok=0; fi; sleep 0.5; done', {timeoutMs: 180_000})
    await new Promise((r) => setTimeout(r, 5000))
  }
  const accessLogLines = async () => Number((await vm.ssh(`sudo -n wc -l < ${ACCESS_LOG}`)).stdout.trim())
  /** nginx's count of the generator's requests (its User-Agent) it logged after line `from`: 2xx and the others. */
  const nginxCounts = async (from: number) => {
    const out = (await vm.ssh(`sudo -n tail -n +${from + 1} ${ACCESS_LOG} | grep '"chaos-lab-load"$' | awk '{ if ($9 ~ /^2/) ok++; else bad++ } END { print ok+0, bad+0 }'`)).stdout.trim().split(' ').map(Number)
    return {ok: out[0] ?? -1, non2xx: out[1] ?? -1}
  }
  const experiment = (name: string, options: Parameters<typeof runCli>[1] = {}, extra: string[] = []) =>
    runCli(['experiment', 'run', 'killer-while', ...target(), '--json', '--report', join(artifacts, name), ...extra], {env: {...env, CI: 'true'}, timeoutMs: 8 * 60_000, ...options})
  /** What every run must show: a valid journal, rollbacks that ran, both instances up, the chart = the generator = nginx. */
  async function commonProof(result: CliResult, logFrom: number, name: string): Promise<Journal> {
    expect(result.stdout + result.stderr).not.toMatch(/at .*\.js:\d+/)
    const journal = result.json as Journal
    expect(journal, result.stderr.slice(-3000)).toBeTruthy()
    expect(validateJournal(journal), JSON.stringify(validateJournal.errors)).toBe(true)
    expect(journal.rollbacks.map((r) => [r.activity.type === 'action' ? r.activity.name : '', r.status])).toEqual([['forget-the-start-limit', 'succeeded'], ['start-both-instances', 'succeeded'], ['wait-until-both-instances-answer', 'succeeded']])
    expect(await active()).toEqual(['active', 'active'])
    const load = journal['chaos-lab'].load
    expect(load?.totals, 'the generator\'s totals').toBeTruthy()
    const chart = sumSeconds(load?.seconds ?? [])
    if (load?.generator === 'ab') {
      // The book's ab made the load: its own summary is the totals, the chart its per-answer lines; they count the
      // same run and may differ by the requests in flight when ab stopped, one per client at most.
      for (const key of ['requests', 'ok', 'non2xx', 'failed'] as const) expect(Math.abs(chart[key] - load.totals![key]), `${key}: chart ${chart[key]}, ab ${load.totals![key]}`).toBeLessThanOrEqual(load.concurrency)
    } else {
      expect(chart).toEqual(load?.totals)
    }
    const nginx = await nginxCounts(logFrom)
    console.log(`experiment ${name}: exit ${result.code} in ${(result.ms / 1000).toFixed(1)} s; chart ${JSON.stringify(chart)}; ${load?.generator}'s totals ${JSON.stringify(load?.totals)} (errors: ${whySummary(load?.seconds ?? []) || 'none'}); nginx ${JSON.stringify(nginx)}; ${load?.seconds.length ?? 0} seconds; marks ${journal['chaos-lab'].marks.map((m) => `${m.t}s ${m.label.split(':')[0]}`).join(', ')}`)
    expect(Math.abs(nginx.ok - chart.ok)).toBeLessThanOrEqual(NGINX_TOLERANCE)
    expect(Math.abs(nginx.non2xx - chart.non2xx)).toBeLessThanOrEqual(NGINX_TOLERANCE)
    expect(existsSync(join(artifacts, name, 'report.html')) && existsSync(join(artifacts, name, 'journal.json'))).toBe(true)
    return journal
  }

  beforeAll(async () => {
    image = await ensureTestImage({suite})
    // 1024 MB: mystery001 met the OOM killer in ~20 s here (768 MB was slower: 76 s, the kernel reclaims longer).
    vm = await bootVm({image, name: `lab-${suite}`, memoryMb: 1024, cpus: 2})
    env = isolatedEnv()
    artifacts = process.env.CHAOS_LAB_TEST_ARTIFACTS ? resolve(process.env.CHAOS_LAB_TEST_ARTIFACTS, `experiment-${suite}`) : mkdtempSync(join(tmpdir(), 'chaos-lab-experiment-vm-'))
    mkdirSync(artifacts, {recursive: true})
  }, 40 * 60_000)

  afterAll(async () => {
    await vm?.stop()
  })

  it('provisions a fresh VM from scratch (exit 0, every step done)', async () => {
    // A loaded 2-core host takes long under TCG: the run's own limit stays under the test's.
    first = await runCli(['provision', ...target(), '--chapters', '2', '--json'], {env, timeoutMs: 29 * 60_000})
    expect(first.stderr + first.stdout).not.toMatch(/at .*\.js:\d+/) // never a stack trace
    expect(first.code, first.stdout + first.stderr).toBe(0)
    expect(first.json.changed).toBe(true)
    expect(first.json.steps.map((s: {status: string}) => s.status)).not.toContain('failed')
    console.log(`first provision: ${(first.ms / 1000).toFixed(1)} s`)
  }, 30 * 60_000)

  it('mystery000 dies of SIGFPE: exit 136 and the shell says "Floating point exception"', async () => {
    const result = await asChaos('./mystery000; echo "exit=$?"')
    expect(result.stdout).toContain('exit=136')
    expect(result.stdout + result.stderr).toMatch(/Floating point exception/)
  }, 120_000)

  it('sleep killed by pkill gives 143, by pkill -9 gives 137', async () => {
    const result = await asChaos('for sig in TERM KILL; do sleep 3600 & pid=$!; sleep 0.3; pkill -$sig -x sleep; wait $pid; echo "$sig=$?"; done')
    expect(result.stdout).toContain('TERM=143')
    expect(result.stdout).toContain('KILL=137')
  }, 120_000)

  it('FizzBuzz through nginx on 8003 answers random numbers right, and 400 on a bad number', async () => {
    const numbers = Array.from({length: 12}, () => 1 + Math.floor(Math.random() * 100_000))
    numbers.push(15, 9, 10, 7)
    const result = await vm.ssh(numbers.map((n) => `curl -s http://127.0.0.1:8003/api/v1/fizzbuzz/${n}; echo`).join('; '))
    const answers = result.stdout.trim().split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line) as {n: number; result: string; instance: string})
    expect(answers.map((a) => a.result)).toEqual(numbers.map(fizzbuzz))
    expect(new Set(answers.map((a) => a.instance))).toEqual(new Set(['8001', '8002']))
    const steady = await vm.ssh('curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:8003/api/v1/; echo; curl -s -w " %{http_code}" http://127.0.0.1:8003/api/v1/fizzbuzz/banana')
    expect(steady.stdout).toMatch(/^200\n/)
    expect(steady.stdout).toMatch(/"error"[^]* 400$/)
  }, 120_000)

  it('killing instance A with SIGTERM: status 143 in the journal, the version line again, no failed requests', async () => {
    const script = `
      set -e
      before=$(journalctl -u faas001_a -o cat | grep -c 'FizzBuzz API version 0.0.7 is up and running.' || true)
      pid=$(systemctl show -p MainPID --value faas001_a)
      ok=0; bad=0
      for i in $(seq 1 40); do
        [ $i = 5 ] && sudo -n kill -TERM $pid
        code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8003/api/v1/fizzbuzz/$i)
        [ "$code" = 200 ] && ok=$((ok+1)) || bad=$((bad+1))
        sleep 0.1
      done
      for i in $(seq 1 30); do systemctl is-active -q faas001_a && break; sleep 0.5; done
      after=$(journalctl -u faas001_a -o cat | grep -c 'FizzBuzz API version 0.0.7 is up and running.' || true)
      echo "ok=$ok bad=$bad before=$before after=$after newpid=$(systemctl show -p MainPID --value faas001_a) oldpid=$pid"
      journalctl -u faas001_a -o cat | grep -E 'status=143' | tail -1`
    const result = await vm.ssh(`sudo -n bash -c ${shellQuote(script)}`)
    expect(result.code, result.stderr).toBe(0)
    const facts = Object.fromEntries([...result.stdout.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1], Number(m[2])]))
    expect(facts.bad).toBe(0)
    expect(facts.ok).toBe(40)
    expect(facts.after).toBeGreaterThan(facts.before)
    expect(facts.newpid).not.toBe(facts.oldpid)
    expect(result.stdout).toMatch(/status=143/)
  }, 240_000)

  it('the book\'s `ps auxf | grep killer-whiles | grep python` lists both instances, and cereal_killer.sh kills each once', async () => {
    const listed = await asChaos('ps auxf | grep killer-whiles | grep python')
    const instances = listed.stdout.split('\n').filter((line) => /fizzbuzz_api\.py (8001|8002) /.test(line))
    expect(instances.map((line) => /fizzbuzz_api\.py (\d+)/.exec(line)?.[1]).sort(), listed.stdout).toEqual(['8001', '8002'])
    // systemctl show of two units puts a blank line between them.
    const pids = async () => (await vm.ssh('systemctl show -p MainPID --value faas001_a faas001_b')).stdout.split('\n').filter(Boolean)
    const before = await pids()
    const result = await asChaos('./cereal_killer.sh')
    expect(result.stdout).toMatch(/Killing instance A \(port 8001\)[^]*faas001_a\.service[^]*Killing instance B \(port 8002\)[^]*faas001_b\.service[^]*Done here!/)
    await vm.ssh('for i in $(seq 1 60); do systemctl is-active -q faas001_a faas001_b && break; sleep 0.5; done')
    const after = await pids()
    expect(after[0]).not.toBe(before[0])
    expect(after[1]).not.toBe(before[1])
  }, 180_000)

  describe('the book\'s experiment before the fix, in systemd time scaled for TCG', () => {
    // Under TCG, with the load holding both emulated CPUs, one round of the book's `ps | grep | sudo kill` can take
    // 10 s, so six kills of one instance can spread over a minute (seen: 3 of A's 6 kills in 50 s against a 30 s
    // window, and no start limit for A). scaleStartLimitForTcg says more; the window is the test machine's, not the lab's.
    beforeAll(async () => {
      expect(await scaleStartLimitForTcg(vm)).toEqual(['2min', '2min'])
    }, 120_000)
    afterAll(async () => {
      await restoreStartLimit(vm)
    }, 120_000)

    it('the book\'s finding: run_ab.sh under killer_while.sh (six kills 1.25 s apart) hits the start limit and users get errors', async () => {
      try {
        // The reader's second terminal keeps the book's load on until the killer is done: one `./run_ab.sh` (30 s)
        // ends before the killer's slow rounds reach B under TCG (seen: B's six kills came after ab had finished).
        // At most six runs; the last one starts before the killer is done and so sees both instances gone.
        const load = 'for run in 1 2 3 4 5 6; do ./run_ab.sh; [ -e /tmp/book-killer.done ] && break; done'
        const since = await vmNow(vm)
        const result = await asChaos(`rm -f /tmp/book-killer.done; (${load}) > /tmp/book-ab.out 2>&1 & ab=$!; sleep 2; ./killer_while.sh > /tmp/book-killer.out 2>&1; touch /tmp/book-killer.done; wait $ab; cat /tmp/book-killer.out; echo @@ab; cat /tmp/book-ab.out`, 420_000)
        const [killer = '', ab = ''] = result.stdout.split('@@ab\n')
        const kills = await vm.ssh(`sudo -n journalctl -u faas001_a -u faas001_b -o short-unix --no-pager --since @${since} | grep -E "Main process exited, code=(exited|killed)"`)
        console.log(`kills as systemd saw them:\n${kills.stdout.split('\n').map((line) => line.replace(/^(\d+\.\d+) \S+ systemd\[1\]: /, '$1 ')).join('\n')}`)
        console.log(`the book's killer while on the TCG VM, before the fix:\n${ab.split('\n').filter((line) => /requests|Non-2xx|Time taken/.test(line)).join('\n')}`)
        // The book's command, as its run_ab.sh prints it (xtrace), and its six kills of each instance.
        expect(ab).toContain('+ ab -t 30 -c 10 -l http://127.0.0.1:8003/api/v1/')
        expect(killer.match(/Killing faas001_a/g)).toHaveLength(6)
        expect(killer.match(/Killing faas001_b/g)).toHaveLength(6)
        // systemd gave up on an instance (its journal's "Start request repeated too quickly"; the status the killer
        // prints right after its last kill can come before the restart attempt that trips the limit), and users
        // noticed: nginx's 502s are ab's "Non-2xx responses", summed over the load's runs.
        expect(await startLimitHits(vm, since), killer).not.toEqual([])
        const sum = (pattern: RegExp) => [...ab.matchAll(pattern)].reduce((total, match) => total + Number(match[1]), 0)
        const errors = sum(/^Failed requests:\s+(\d+)/gm) + sum(/^Non-2xx responses:\s+(\d+)/gm)
        expect(errors, ab).toBeGreaterThan(0)
      } finally {
        // Put the lab back for the tests after this one, whatever happened here.
        await vm.ssh('sudo -n systemctl reset-failed faas001_a faas001_b; sudo -n systemctl start faas001_a faas001_b')
      }
    }, 600_000)

    it('experiment run killer-while before the fix: the hypothesis deviates (exit 1), users got errors while both instances were down, and the chart shows when', async () => {
      await settle()
      const logFrom = await accessLogLines()
      const result = await experiment('before-the-fix')
      const journal = await commonProof(result, logFrom, 'before-the-fix')
      expect(result.code, result.stderr.slice(-3000)).toBe(1)
      expect(journal.status).toBe('failed')
      expect(journal.deviated).toBe(true)
      expect(journal['chaos-lab'].hypothesis).toEqual({before: 'met', after: 'deviated'})
      const load = journal['chaos-lab'].load!
      const errors = load.totals!.non2xx + load.totals!.failed
      // When: the errors come once instance B is attacked (A had hit the start limit and stayed down), so both
      // are down. A mark is the line the killer prints after `sudo kill` returned, which under TCG is up to ~2 s
      // after the kill itself: the window starts 2 s before B's first mark; nine errors in ten fall in it.
      const marks = journal['chaos-lab'].marks
      const firstB = marks.find((m) => m.label.startsWith('faas001_b'))
      expect(firstB, JSON.stringify(marks)).toBeTruthy()
      const windowStart = Math.floor(firstB!.t) - 2
      const inWindow = load.seconds.filter((s) => s.t >= windowStart).reduce((sum, s) => sum + s.non2xx + s.failed, 0)
      const burst = load.seconds.find((s) => s.non2xx + s.failed >= 5)
      console.log(`before the fix: ${errors} errors of ${load.totals!.requests} requests, ${inWindow} of them from ${windowStart} s on; first second with 5 or more: ${burst?.t}; B's first kill marked at ${firstB!.t} s`)
      // Far beyond the fixed lab's: both instances down means every request for seconds is nginx's 502.
      expect(load.totals!.non2xx).toBeGreaterThanOrEqual(50)
      expect(burst?.t).toBeGreaterThanOrEqual(windowStart)
      expect(inWindow / errors).toBeGreaterThanOrEqual(0.9)
      // The plain lines (CI): one per second and one per mark, on stderr; a second with errors says what they were.
      expect(result.stderr).toMatch(/^\s+\d+s {2}ok +\d+ {2}non-2xx +\d+ {2}failed +\d+/m)
      expect(result.stderr).toMatch(/non-2xx +[1-9]\d* .*\(HTTP 502 [1-9]\d*/)
      expect(result.stderr).toMatch(/▲ faas001_a \[1\/6\]: sent SIGTERM/)
      // The journal's probe after the method says which part of the hypothesis failed.
      const after = journal.steady_states.after!.probes.map((p) => [p.activity.type === 'probe' ? p.activity.name : '', p.tolerance_met])
      expect(after).toContainEqual(['no-request-failed-or-erred', false])
      expect(readFileSync(join(artifacts, 'before-the-fix', 'report.html'), 'utf8')).toContain('data-deviated="true"')
    }, 10 * 60_000)

    it('experiment run, Ctrl-C in the middle (instance A under attack, B not yet): interrupted (130), rollbacks ran, both instances running', async () => {
      await settle()
      const logFrom = await accessLogLines()
      let sent = false
      let seen = ''
      const result = await experiment('interrupted', {
        onOutput: (text, child) => {
          // A's third kill (a line may come in two chunks: the test reads what has come so far). Not a later one:
          // with the rollback's start of the run before counted in the 2-minute window, A's start limit can trip
          // after its fourth kill, and then round five is "giving up", never a mark. B's first kill is at least
          // 5 s away (A's last three rounds, then the killer's wait for A and its 2 s pause).
          seen += text
          if (!sent && /▲ faas001_a \[3\/6\]/.test(seen)) {
            sent = true
            setTimeout(() => child.kill('SIGINT'), 500)
          }
        },
      })
      expect(sent, result.stderr.slice(-3000)).toBe(true)
      const journal = await commonProof(result, logFrom, 'interrupted')
      expect(result.code, result.stderr.slice(-3000)).toBe(130)
      expect(journal.status).toBe('interrupted')
      expect(journal.steady_states.after).toBeNull()
      expect(journal['chaos-lab'].marks.some((m) => m.label.startsWith('faas001_b'))).toBe(false)
      // The killer itself was stopped in the VM, not left to attack B after chaos-lab had gone.
      expect((await vm.ssh("pgrep -f '[s]turdy_killer_while' || echo none")).stdout.trim()).toBe('none')
      await new Promise((r) => setTimeout(r, 5000))
      expect(await active()).toEqual(['active', 'active'])
    }, 10 * 60_000)
  })

  it('mystery001 is killed by the OOM killer, and the kernel log says so', async () => {
    const started = Date.now()
    // How long it takes is TCG's speed (20 to 112 s seen here), not the lab's: printed, not asserted.
    const result = await asChaos('timeout 300 ./mystery001 > /dev/null; echo "exit=$?"', 330_000)
    console.log(`mystery001 met the OOM killer after ${((Date.now() - started) / 1000).toFixed(1)} s`)
    expect(result.stdout).toContain('exit=137')
    // The book's command, as user chaos (Debian and Ubuntu restrict dmesg to root; provisioning lifts that).
    const log = await asChaos('dmesg | grep -i mystery001')
    expect(log.stdout, log.stderr).toMatch(/Out of memory: Killed process \d+ \(mystery001\)/)
    // The SSH service survived (logind moved the session out of ssh.service).
    expect((await vm.ssh('systemctl is-active ssh')).stdout.trim()).toBe('active')
  }, 400_000)

  it('every command lesson-2\'s hints quote works as chaos, in a terminal, as typed', async () => {
    const lab = loadLesson('lesson-2')
    const quoted = [...new Set(lab.checks.flatMap((c) => [...c.hint.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '')))]
    // Not run here: chaos-lab runs on the learner's computer; sleep/pkill are timed by hand (proven above);
    // `systemctl edit` opens an editor; a bare `cat` is a program named in a sentence ("`cat` the file").
    const skipped = /^(chaos-lab |sleep |pkill |sudo systemctl edit |cat$)/
    const commands = quoted.filter((command) => !skipped.test(command))
    expect(commands).toEqual(expect.arrayContaining(['dmesg | grep -i mystery001', 'top -n1 -o+%MEM', 'kill -l', 'sudo systemctl status faas001_a']))
    for (const command of commands) {
      // A terminal as the learner has one (script gives it a pty and TERM: top needs both); a pager gets "q"
      // typed at it (sudo drops SYSTEMD_PAGER).
      const result = await asChaos(`printf 'q\\nq\\nq\\n' | TERM=xterm-256color PAGER=cat SYSTEMD_PAGER=cat MANPAGER=cat timeout 60 script -qec ${shellQuote(command)} /dev/null`)
      expect(result.code, `${command}: ${result.stdout}${result.stderr}`).toBe(0)
      // Errors as the shell, sudo and man print them, line-anchored: a page the command shows (`man systemd.unit`
      // says "not allowed" and "No such file" in its prose) is not an error.
      expect(result.stdout + result.stderr, command).not.toMatch(shellErrorLine)
    }
  }, 300_000)

  it('a second provision changes nothing (its time is `npm run bench -- provision`\'s business)', async () => {
    const second = await runCli(['provision', ...target(), '--json'], {env})
    expect(second.code, second.stderr).toBe(0)
    expect(second.json.changed).toBe(false)
    expect(second.json.uploaded).toBe(false)
    expect(second.json.steps.every((s: {status: string}) => s.status === 'skipped')).toBe(true)
    console.log(`no-op provision: ${(second.ms / 1000).toFixed(1)} s = ${((100 * second.ms) / first.ms).toFixed(1)}% of the first`)
  }, 120_000)

  it('a provision cut off mid-step (connection dropped) converges on the rerun', async () => {
    let cut = false
    const interrupted = await runCli(['provision', ...target(), '--force', '--verbose'], {
      env,
      onOutput: (text, child) => {
        // Kill the client as soon as the chapter2 step is under way: its SSH connection dies with it.
        if (!cut && /chapter2/.test(text) && /Step chapter2|\[chapter2\]|chapter2 \[/.test(text)) {
          cut = true
          setTimeout(() => child.kill('SIGKILL'), 1500)
        }
      },
    })
    expect(cut).toBe(true)
    expect(interrupted.signal).toBe('SIGKILL')
    const state = JSON.parse((await vm.ssh('sudo -n cat /var/lib/chaos-lab/state.json')).stdout) as {steps: Record<string, unknown>}
    expect(Object.keys(state.steps)).not.toContain('chapter2')
    const rerun = await runCli(['provision', ...target(), '--json'], {env})
    expect(rerun.code, rerun.stderr).toBe(0)
    expect(rerun.json.steps.find((s: {name: string}) => s.name === 'chapter2').status).toBe('done')
    const fizz = await vm.ssh('curl -s http://127.0.0.1:8003/api/v1/fizzbuzz/30')
    expect(JSON.parse(fizz.stdout).result).toBe('FizzBuzz')
  }, 20 * 60_000)

  describe('chaos-lab check and reset lesson-2: the learner\'s story', () => {
    const check = (lesson: string) => runCli(['check', lesson, ...target(), '--memory', '1024', '--cpus', '2', '--json'], {env, timeoutMs: 5 * 60_000})
    const statuses = (result: CliResult): Record<string, string> => Object.fromEntries((result.json.checks as {id: string; status: string}[]).map((c) => [c.id, c.status]))
    const reset = () => runCli(['reset', 'lesson-2', ...target(), '--yes', '--backup-dir', join(vm.dir, 'backups'), '--json'], {env, timeoutMs: 10 * 60_000})
    const writeAnswers = () => writeLesson2Answers(vm)
    const applyFix = (units: string[]) => applyStartLimitFix(vm, units)

    it('lesson-1 passes on the provisioned VM', async () => {
      const result = await check('lesson-1')
      expect(result.code, result.stdout + result.stderr).toBe(0)
      expect(result.json.summary.fail).toBe(0)
    }, 5 * 60_000)

    it('after reset lesson-2, a new learner fails every item, each with a hint, and the experiment is blocked', async () => {
      const done = await reset()
      expect(done.code, done.stdout + done.stderr).toBe(0)
      expect(done.json.backup.file).toMatch(/chaos-lab-backup-.*\.tar\.gz$/)
      const result = await check('lesson-2')
      expect(result.code).toBe(1)
      const byId = statuses(result)
      for (const id of ['mystery000-exit-code', 'mystery000-signal', 'sigterm-exit-code', 'sigkill-exit-code', 'mystery001-killed-by', 'oom-kill-allocating-task', 'oom-dump-tasks', 'mystery001-oom-killed', 'start-limit-fix-a', 'start-limit-fix-b']) {
        expect(byId[id], id).toBe('fail')
      }
      expect(byId['killer-while-under-load']).toBe('blocked')
      for (const c of result.json.checks as {status: string; hint: string; id: string}[]) {
        if (c.status !== 'pass') expect(c.hint.length, c.id).toBeGreaterThan(20)
      }
    }, 10 * 60_000)

    it('caught: answers written and the fix applied, but mystery001 never run, its death forged in /dev/kmsg', async () => {
      await writeAnswers()
      await applyFix(['faas001_a', 'faas001_b'])
      // A line written to /dev/kmsg from user space lands in the journal as a kernel-transport message (the old
      // check counted it), but with facility user: only the kernel's own messages count.
      await vm.ssh(`echo '<6>Out of memory: Killed process 4242 (mystery001) total-vm:1kB, anon-rss:1kB' | sudo -n tee /dev/kmsg >/dev/null`)
      const forged = await vm.ssh('sudo -n journalctl _TRANSPORT=kernel -o cat --no-pager | grep -c "Killed process 4242 (mystery001)" || true')
      expect(Number(forged.stdout.trim())).toBeGreaterThan(0)
      const byId = statuses(await check('lesson-2'))
      expect(byId['mystery001-oom-killed']).toBe('fail')
      expect(byId['mystery000-exit-code']).toBe('pass')
      expect(byId['start-limit-fix-b']).toBe('pass')
    }, 5 * 60_000)

    it('caught: the learner\'s ./mystery000 replaced by `exit 7` and 7 answered (the truth is the pristine build)', async () => {
      await asChaos('mv mystery000 mystery000.real && printf \'#!/bin/sh\\nexit 7\\n\' > mystery000 && chmod +x mystery000 && sed -i "s/^mystery000_exit_code:.*/mystery000_exit_code: 7/" ~/answers/lesson-2.yaml')
      expect((await asChaos('./mystery000; echo "exit=$?"')).stdout).toContain('exit=7')
      const byId = statuses(await check('lesson-2'))
      expect(byId['mystery000-exit-code']).toBe('fail')
      expect(byId['mystery000-signal']).toBe('pass')
      await asChaos('mv -f mystery000.real mystery000 && sed -i "s/^mystery000_exit_code:.*/mystery000_exit_code: 136/" ~/answers/lesson-2.yaml')
    }, 5 * 60_000)

    it('caught: the fix applied to one unit only, then a unit stopped, then a static "FizzBuzz" server', async () => {
      await vm.ssh('sudo -n rm -rf /etc/systemd/system/faas001_b.service.d && sudo -n systemctl daemon-reload')
      let byId = statuses(await check('lesson-2'))
      expect(byId['start-limit-fix-a']).toBe('pass')
      expect(byId['start-limit-fix-b']).toBe('fail')
      expect(byId['killer-while-under-load']).toBe('blocked')
      await applyFix(['faas001_b'])

      await vm.ssh('sudo -n systemctl stop faas001_b')
      byId = statuses(await check('lesson-2'))
      expect(byId['faas001-b-active']).toBe('fail')
      expect(byId['killer-while-under-load']).toBe('blocked')
      await vm.ssh('sudo -n systemctl reset-failed faas001_b; sudo -n systemctl start faas001_b')

      // Instance B replaced by something that only looks alive under its unit's name: nginx would retry A for
      // every request, so only asking 8002 directly tells.
      await vm.ssh(`sudo -n bash -c ${shellQuote(`mkdir -p /run/systemd/system/faas001_b.service.d && printf '[Service]\\nExecStart=\\nExecStart=/bin/sleep infinity\\n' > /run/systemd/system/faas001_b.service.d/fake.conf && systemctl daemon-reload && systemctl restart faas001_b`)}`)
      byId = statuses(await check('lesson-2'))
      expect(byId['faas001-b-active']).toBe('pass')
      expect(byId['fizzbuzz-through-nginx']).toBe('fail')
      expect(byId['killer-while-under-load']).toBe('blocked')
      await vm.ssh('sudo -n rm -rf /run/systemd/system/faas001_b.service.d && sudo -n systemctl daemon-reload && sudo -n systemctl restart faas001_b')

      const staticServer = `server { listen 8003; location / { default_type application/json; return 200 '{"result": "FizzBuzz"}'; } }`
      await vm.ssh(`sudo -n cp /etc/nginx/conf.d/fizzbuzz.conf /root/fizzbuzz.conf.real && echo ${shellQuote(staticServer)} | sudo -n tee /etc/nginx/conf.d/fizzbuzz.conf >/dev/null && sudo -n systemctl reload nginx`)
      byId = statuses(await check('lesson-2'))
      expect(byId['fizzbuzz-through-nginx']).toBe('fail')
      expect(byId['killer-while-under-load']).toBe('blocked')
      await vm.ssh('sudo -n cp /root/fizzbuzz.conf.real /etc/nginx/conf.d/fizzbuzz.conf && sudo -n systemctl reload nginx')
    }, 10 * 60_000)

    it('the learner who does the whole chapter passes lesson-2, experiment included', async () => {
      await asChaos('./mystery000; for sig in TERM KILL; do sleep 3600 & pid=$!; sleep 0.3; pkill -$sig -x sleep; wait $pid; done; timeout 300 ./mystery001 >/dev/null; true', 360_000)
      // Units restarted a moment ago may still be inside their start-limit window: give them the book's pause.
      await settle()
      const result = await check('lesson-2')
      const checks = result.json.checks as {id: string; status: string; message: string}[]
      // Every check passes, the experiment included (run by the experiment engine, labs/lesson-2/experiments/
      // killer-while.yaml): the sturdy killer waits for A to answer again before it attacks B, however slowly the
      // TCG VM restarts it, so users never lose both instances at once.
      const experiment = checks.find((c) => c.id === 'killer-while-under-load')
      console.log(`killer-while under load on the TCG VM: ${experiment?.status} (${experiment?.message})`)
      expect(checks.filter((c) => c.status !== 'pass'), JSON.stringify(checks, null, 1)).toEqual([])
      expect(result.code).toBe(0)
      // The experiment left the VM as it found it.
      expect((await vm.ssh('systemctl is-active faas001_a faas001_b')).stdout.trim().split('\n')).toEqual(['active', 'active'])
    }, 10 * 60_000)

    it('the book\'s conclusion: after the fix, run_ab.sh under the book\'s killer_while.sh sees no failed requests (when A is back before B is attacked)', async () => {
      await settle()
      const since = await vmNow(vm)
      const result = await asChaos('./run_ab.sh > /tmp/book-ab.out 2>&1 & ab=$!; sleep 2; ./killer_while.sh > /tmp/book-killer.out 2>&1; wait $ab; cat /tmp/book-killer.out; echo @@ab; cat /tmp/book-ab.out', 240_000)
      const [killer = '', ab = ''] = result.stdout.split('@@ab\n')
      console.log(`the book's killer while on the TCG VM, after the fix:\n${ab.split('\n').filter((line) => /requests|Non-2xx|Time taken/.test(line)).join('\n')}`)
      expect(killer.match(/Killing faas001_[ab]/g)).toHaveLength(12)
      expect(killer).not.toMatch(/start-limit-hit/)
      expect(Number(/^Complete requests:\s+(\d+)/m.exec(ab)?.[1] ?? 0), ab).toBeGreaterThan(0)
      expect(ab).toMatch(/^Failed requests:\s+0$/m)
      // The book's killer pauses a fixed 3.25 s (1.25 s, `systemctl status`, 2 s) between A's last kill and B's
      // first. Its conclusion needs A back by then. Under TCG, with ab on both emulated CPUs, a restart can take
      // longer: then both instances are down at once and nginx answers 502, as it would on any machine that slow.
      // The journal tells which case this run was: A's last "up and running" against B's first kill.
      const journalOf = async (unit: string) => (await vm.ssh(`sudo -n journalctl -u ${unit} -o short-unix --no-pager --since @${since}`)).stdout
      const [journalA, journalB] = [await journalOf('faas001_a'), await journalOf('faas001_b')]
      const times = (journal: string, pattern: RegExp) => journal.split('\n').filter((line) => pattern.test(line)).map((line) => Number(line.split(' ')[0]))
      const bFirstKill = Math.min(...times(journalB, /Main process exited/))
      const aLastKill = Math.max(...times(journalA, /Main process exited/).filter((t) => t < bFirstKill))
      const aBack = times(journalA, /FizzBuzz API version .* is up and running\./).filter((t) => t > aLastKill && t < bFirstKill)
      const non2xx = Number(/^Non-2xx responses:\s+(\d+)/m.exec(ab)?.[1] ?? 0)
      console.log(`after the fix: A's last kill ${(bFirstKill - aLastKill).toFixed(1)} s before B's first; A back before it: ${aBack.length > 0 ? `yes, ${(aBack[0]! - aLastKill).toFixed(1)} s after its kill` : 'no'}; non-2xx ${non2xx}`)
      expect(Number.isFinite(bFirstKill) && Number.isFinite(aLastKill), journalA + journalB).toBe(true)
      if (aBack.length > 0) expect(ab).not.toMatch(/^Non-2xx responses:/m)
      else expect(await startLimitHits(vm, since)).toEqual([])
      await vm.ssh('for i in $(seq 1 60); do systemctl is-active -q faas001_a faas001_b && break; sleep 0.5; done')
      expect((await vm.ssh('systemctl is-active faas001_a faas001_b')).stdout.trim().split('\n')).toEqual(['active', 'active'])
    }, 5 * 60_000)

    it('experiment run killer-while --generator ab after the fix: the hypothesis holds (exit 0) by ab\'s own summary, every kill delivered, no request lost', async () => {
      await settle()
      const logFrom = await accessLogLines()
      // The book's own instrument as the load (ab -c 10 -l): the chart against ab's summary (commonProof).
      const result = await experiment('after-the-fix', {}, ['--generator', 'ab'])
      const journal = await commonProof(result, logFrom, 'after-the-fix')
      expect(journal['chaos-lab'].load!.generator).toBe('ab')
      // The report's totals table names whose totals they are (the page escapes the apostrophe).
      expect(readFileSync(join(artifacts, 'after-the-fix', 'report.html'), 'utf8')).toContain('data-totals="generator"><td>ab&#39;s own summary (Complete, Non-2xx, Failed requests)')
      expect(result.code, result.stderr.slice(-3000)).toBe(0)
      expect(journal.status).toBe('completed')
      expect(journal.deviated).toBe(false)
      expect(journal['chaos-lab'].hypothesis).toEqual({before: 'met', after: 'met'})
      expect(journal.run.map((r) => r.status)).toEqual(['succeeded'])
      expect(journal['chaos-lab'].marks.filter((m) => /sent SIGTERM/.test(m.label))).toHaveLength(12)
      const totals = journal['chaos-lab'].load!.totals!
      expect(totals.ok).toBeGreaterThan(0)
      expect(totals.non2xx + totals.failed).toBe(0)
    }, 10 * 60_000)

    it('the experiment can fail: with the fix in place but nginx no longer retrying the other instance, users see errors', async () => {
      // The learner's editable nginx config, with retries turned off (nginx's default, `error timeout`, would
      // still retry a refused connection: removing the line is not enough).
      await vm.ssh(`sudo -n cp /etc/nginx/conf.d/fizzbuzz.conf /root/fizzbuzz.conf.real && sudo -n sed -i 's/^\\( *\\)proxy_next_upstream .*;/\\1proxy_next_upstream off;/' /etc/nginx/conf.d/fizzbuzz.conf && sudo -n nginx -t -q && sudo -n systemctl reload nginx`)
      expect((await vm.ssh('grep -c "proxy_next_upstream off;" /etc/nginx/conf.d/fizzbuzz.conf')).stdout.trim()).toBe('1')
      await new Promise((resolveWait) => setTimeout(resolveWait, 5000))
      const result = await check('lesson-2')
      const experiment = (result.json.checks as {id: string; status: string; message: string}[]).find((c) => c.id === 'killer-while-under-load')
      console.log(`without retries: ${experiment?.status} (${experiment?.message})`)
      expect(experiment?.status).toBe('fail')
      expect(experiment?.message).toMatch(/non-2xx responses: [1-9]\d* \(expected at most 0\)|failed requests: [1-9]\d* \(expected at most 0\)/)
      expect(result.code).toBe(1)
      await vm.ssh('sudo -n cp /root/fizzbuzz.conf.real /etc/nginx/conf.d/fizzbuzz.conf && sudo -n systemctl reload nginx')
    }, 10 * 60_000)

    it('no fault, no verdict: when the killer kills nothing, the experiment is an error, never a pass', async () => {
      await vm.ssh(`sudo -n cp -p /opt/chaos-lab/chapter2/sturdy_killer_while.sh /root/killer.real && printf '#!/bin/sh\\nexit 0\\n' | sudo -n tee /opt/chaos-lab/chapter2/sturdy_killer_while.sh >/dev/null`)
      const result = await check('lesson-2')
      const experiment = (result.json.checks as {id: string; status: string; message: string}[]).find((c) => c.id === 'killer-while-under-load')
      expect(experiment?.status).toBe('error')
      expect(experiment?.message).toMatch(/fault was not injected[^]*0 of 12 kills marked/)
      expect(result.code).toBe(1)
      await vm.ssh('sudo -n cp -p /root/killer.real /opt/chaos-lab/chapter2/sturdy_killer_while.sh')
    }, 10 * 60_000)

    it('reset lesson-2 keeps the learner\'s answers in an archive, fails like new, and the archive gives them back', async () => {
      const done = await reset()
      expect(done.code, done.stderr).toBe(0)
      const archive = done.json.backup.file as string
      const listing = await run('tar', ['-tzf', archive], {timeoutMs: 30_000})
      expect(listing.stdout).toContain('home/chaos/answers/lesson-2.yaml')
      const sheet = await run('tar', ['-xzOf', archive, 'home/chaos/answers/lesson-2.yaml'], {timeoutMs: 30_000})
      expect(sheet.stdout).toMatch(/^mystery000_exit_code: 136$/m)

      const fresh = statuses(await check('lesson-2'))
      expect(fresh['mystery000-exit-code']).toBe('fail')
      expect(fresh['mystery001-oom-killed']).toBe('fail')
      expect(fresh['start-limit-fix-a']).toBe('fail')

      // How an instructor gives the work back (README): pipe the archive into tar in the VM.
      const restore = await runCli(['ssh', ...target(), '--user', 'admin', '--', 'sudo', '-n', 'tar', '-xzf', '-', '-C', '/'], {env, stdinFile: archive})
      expect(restore.code, restore.stderr).toBe(0)
      const restored = statuses(await check('lesson-2'))
      expect(restored['mystery000-exit-code']).toBe('pass')
      expect(restored['sigkill-exit-code']).toBe('pass')
    }, 15 * 60_000)

    it('reset without --yes and without a terminal refuses (exit 2) and changes nothing', async () => {
      const before = (await vm.ssh(`sudo -n md5sum ${LESSON2_SHEET}`)).stdout
      const refused = await runCli(['reset', 'lesson-2', ...target(), '--json'], {env})
      expect(refused.code).toBe(2)
      expect(refused.json.error.code).toBe('confirmation_required')
      expect((await vm.ssh(`sudo -n md5sum ${LESSON2_SHEET}`)).stdout).toBe(before)
    })
  })

  describe('bad targets: a clear error and the documented exit code', () => {
    const expectError = (result: CliResult, exitCode: number, code: string) => {
      expect(result.code, result.stdout + result.stderr).toBe(exitCode)
      expect(result.json.error.code).toBe(code)
      expect(result.json.error.suggestion).toBeTruthy()
      expect(result.stdout + result.stderr).not.toMatch(/at .*\.js:\d+/)
    }

    it('an unreachable host: exit 3', async () => {
      const {port} = await import('node:net').then(({createServer}) => new Promise<{port: number}>((resolvePort) => {
        const server = createServer().listen(0, '127.0.0.1', () => { const address = server.address() as {port: number}; server.close(() => { resolvePort(address) }) })
      }))
      expectError(await runCli(['provision', '--target', `ssh://admin@127.0.0.1:${port}`, '--identity', image.privateKeyPath, '--json'], {env}), 3, 'connection_refused')
    })

    it('a key the machine does not accept: exit 3', async () => {
      const dir = join(vm.dir, 'wrong-key')
      await run('mkdir', ['-p', dir], {timeoutMs: 5000})
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')], {timeoutMs: 10_000})
      expectError(await runCli(['provision', '--target', `ssh://admin@127.0.0.1:${vm.port}`, '--identity', join(dir, 'id'), '--json'], {env}), 3, 'auth_failed')
    })

    it('a changed host key: exit 3, nothing run', async () => {
      const other = isolatedEnv()
      const knownHosts = join(other.XDG_CONFIG_HOME!, 'chaos-lab', 'known_hosts')
      await run('mkdir', ['-p', join(other.XDG_CONFIG_HOME!, 'chaos-lab')], {timeoutMs: 5000})
      writeFileSync(knownHosts, `[127.0.0.1]:${vm.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxIVW1RUnRHrvl3Cl6o4jo6EQTTBvMXsa/3LtnhR6m0\n`)
      expectError(await runCli(['provision', ...target(), '--json'], {env: other}), 3, 'host_key_changed')
    })

    it('a user without sudo: exit 3 with the sudoers line to add', async () => {
      const result = await runCli(['provision', '--target', `ssh://nosudo@127.0.0.1:${vm.port}`, '--identity', image.privateKeyPath, '--json'], {env})
      expectError(result, 3, 'no_sudo')
      expect(result.json.error.suggestion).toContain('NOPASSWD')
    })

    it('a malformed --target: exit 2', async () => {
      expectError(await runCli(['provision', '--target', 'admin@127.0.0.1', '--identity', image.privateKeyPath, '--json'], {env}), 2, 'bad_target')
    })
  })
})
