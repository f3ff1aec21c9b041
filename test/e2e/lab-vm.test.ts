/**
 * The whole learner story on one real VM (Debian bookworm under QEMU), driven through the BUILT binary:
 * provision from scratch → the chapter 2 behaviours the book describes → idempotent rerun → a run cut off
 * mid-step converges → bad targets get clear errors and exit codes.
 */
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {isolatedEnv, runCli, type CliResult} from '../helpers/cli.js'
import {VM_TOOLS, bootVm, ensureTestImage, requireTools, type RunningVm, type TestImage} from '../helpers/vm/index.js'
import {run} from '../helpers/vm/run.js'
import {shellQuote} from '../../src/util/shell.js'

const skip = requireTools([...VM_TOOLS, 'tar'], {root: true})
const CHAPTER = '/home/chaos/src/examples/killer-whiles'

function fizzbuzz(n: number): string {
  return n % 15 === 0 ? 'FizzBuzz' : n % 3 === 0 ? 'Fizz' : n % 5 === 0 ? 'Buzz' : String(n)
}

describe.skipIf(skip !== undefined)('the lab VM, provisioned over SSH by the built binary', () => {
  let image: TestImage
  let vm: RunningVm
  let env: Record<string, string>
  let first: CliResult
  const target = () => ['--target', `ssh://admin@127.0.0.1:${vm.port}`, '--identity', image.privateKeyPath]
  /** Runs as the learner, in the chapter folder. No `sudo -i`: its login shell would expand $vars first. */
  const asChaos = (command: string, timeoutMs = 120_000) => vm.ssh(`sudo -n -u chaos -H bash -c ${shellQuote(`cd ${CHAPTER} && ${command}`)}`, {timeoutMs})

  beforeAll(async () => {
    image = await ensureTestImage()
    // 1024 MB: mystery001 met the OOM killer in ~20 s here (768 MB was slower: 76 s, the kernel reclaims longer).
    vm = await bootVm({image, name: 'lab', memoryMb: 1024, cpus: 2})
    env = isolatedEnv()
  }, 40 * 60_000)

  afterAll(async () => {
    await vm?.stop()
  })

  it('provisions a fresh VM from scratch (exit 0, every step done)', async () => {
    first = await runCli(['provision', ...target(), '--json'], {env})
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

  it('killer_while.sh drives a unit into start-limit-hit (the learner\'s bug exists)', async () => {
    // Eight kills, not six: under TCG a kill sometimes finds the unit still starting and skips it.
    const result = await asChaos('KILLS=8 ./killer_while.sh; sleep 2; systemctl show -p Result --value faas001_a; systemctl is-active faas001_a || true', 180_000)
    const journal = await vm.ssh('sudo -n journalctl -u faas001_a -o cat --no-pager | tail -30')
    expect(result.stdout + journal.stdout).toMatch(/start-limit-hit|Start request repeated too quickly/)
    expect(result.stdout).toMatch(/failed|inactive/)
    // Put the lab back for the tests after this one.
    await vm.ssh('sudo -n systemctl reset-failed faas001_a faas001_b; sudo -n systemctl start faas001_a faas001_b')
  }, 240_000)

  it('mystery001 is killed by the OOM killer, and the kernel log says so', async () => {
    const started = Date.now()
    // How long it takes is TCG's speed (20 to 112 s seen here), not the lab's: printed, not asserted.
    const result = await asChaos('timeout 300 ./mystery001 > /dev/null; echo "exit=$?"', 330_000)
    console.log(`mystery001 met the OOM killer after ${((Date.now() - started) / 1000).toFixed(1)} s`)
    expect(result.stdout).toContain('exit=137')
    const log = await vm.ssh('sudo -n dmesg | grep -i mystery001')
    expect(log.stdout).toMatch(/Out of memory: Killed process \d+ \(mystery001\)/)
    // The SSH service survived (logind moved the session out of ssh.service).
    expect((await vm.ssh('systemctl is-active ssh')).stdout.trim()).toBe('active')
  }, 400_000)

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
    const SHEET = '/home/chaos/answers/lesson-2.yaml'
    const ANSWERS: Record<string, string> = {
      mystery000_exit_code: '136', mystery000_signal: 'SIGFPE', sigterm_exit_code: '143', sigkill_exit_code: '137',
      mystery001_killed_by: 'the OOM killer', oom_kill_allocating_task: '0', oom_dump_tasks: '1',
    }
    const check = (lesson: string) => runCli(['check', lesson, ...target(), '--memory', '1024', '--cpus', '2', '--json'], {env, timeoutMs: 5 * 60_000})
    const statuses = (result: CliResult): Record<string, string> => Object.fromEntries((result.json.checks as {id: string; status: string}[]).map((c) => [c.id, c.status]))
    const reset = () => runCli(['reset', 'lesson-2', ...target(), '--yes', '--backup-dir', join(vm.dir, 'backups'), '--json'], {env, timeoutMs: 10 * 60_000})
    const writeAnswers = () => vm.ssh(`sudo -n -u chaos sed -i ${Object.entries(ANSWERS).map(([key, value]) => `-e ${shellQuote(`s/^${key}:.*/${key}: ${value}/`)}`).join(' ')} ${SHEET}`)
    const applyFix = (units: string[]) => vm.ssh(`sudo -n bash -c ${shellQuote(`${units.map((unit) => `mkdir -p /etc/systemd/system/${unit}.service.d && printf '[Unit]\\nStartLimitIntervalSec=0\\n' > /etc/systemd/system/${unit}.service.d/fix.conf`).join(' && ')} && systemctl daemon-reload`)}`)

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

    it('caught: answers written and the fix applied, but mystery001 never run', async () => {
      await writeAnswers()
      await applyFix(['faas001_a', 'faas001_b'])
      const byId = statuses(await check('lesson-2'))
      expect(byId['mystery001-oom-killed']).toBe('fail')
      expect(byId['mystery000-exit-code']).toBe('pass')
      expect(byId['start-limit-fix-b']).toBe('pass')
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
      await new Promise((resolveWait) => setTimeout(resolveWait, 5000))
      const result = await check('lesson-2')
      const checks = result.json.checks as {id: string; status: string; message: string}[]
      // Every check passes, the experiment included: killer_while.sh waits for A to answer again before it
      // attacks B, however slowly the TCG VM restarts it, so users never lose both instances at once.
      const experiment = checks.find((c) => c.id === 'killer-while-under-load')
      console.log(`killer-while under load on the TCG VM: ${experiment?.status} (${experiment?.message})`)
      expect(checks.filter((c) => c.status !== 'pass'), JSON.stringify(checks, null, 1)).toEqual([])
      expect(result.code).toBe(0)
      // The experiment left the VM as it found it.
      expect((await vm.ssh('systemctl is-active faas001_a faas001_b')).stdout.trim().split('\n')).toEqual(['active', 'active'])
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
      const before = (await vm.ssh(`sudo -n md5sum ${SHEET}`)).stdout
      const refused = await runCli(['reset', 'lesson-2', ...target(), '--json'], {env})
      expect(refused.code).toBe(2)
      expect(refused.json.error.code).toBe('confirmation_required')
      expect((await vm.ssh(`sudo -n md5sum ${SHEET}`)).stdout).toBe(before)
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
