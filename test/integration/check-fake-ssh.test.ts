import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, afterEach, beforeAll, describe, expect, it, vi} from 'vitest'

import CheckCommand from '../../src/commands/check.js'
import LabsCommand from '../../src/commands/labs/index.js'
import LabsShowCommand from '../../src/commands/labs/show.js'
import {setDepsForTesting, deps} from '../../src/deps.js'
import {UnreachableError} from '../../src/errors.js'
import {checkLesson} from '../../src/services/check.js'
import {loadLesson} from '../../src/lessons/load.js'
import {fizzbuzz} from '../../src/lessons/kinds/probe.js'
import type {LessonRun} from '../../src/lessons/result.js'
import {exitCodeFor} from '../../src/lessons/runner.js'
import {startFakeSshServer, type FakeExecReply, type FakeRule, type FakeSshServer} from '../helpers/fake-ssh-server.js'

// expect's asymmetric matchers, typed `unknown` so that strict lint accepts them inside object literals.
const like = (pattern: RegExp): unknown => expect.stringMatching(pattern)
const containing = (object: Record<string, unknown>): unknown => expect.objectContaining(object)


/**
 * A scripted lab VM behind a real SSH server (ssh2, in process): every command of labs/lesson-1 and lesson-2
 * answered from a state object, so scenarios say what the learner did, not which strings come back.
 */
interface LabVm {
  memTotalMb: number
  nproc: number
  chaosUser: boolean
  missingTools: string[]
  missingPrograms: string[]
  units: Record<'faas001_a' | 'faas001_b', 'active' | 'failed' | 'inactive'>
  nginx: boolean
  /** nginx answers, but users still see errors during the experiment (e.g. no retry on the other instance). */
  experimentErrors?: boolean
  fizzbuzz: 'real' | 'static'
  /** faas001_b as seen on its own port: the real API, nothing listening (`sleep infinity` under its name). */
  instanceB?: 'real' | 'dead'
  /** Kills the experiment's killer delivers to each unit (6 when it works; 0: sudo refused, nothing running). */
  experimentKills?: number
  swapKb: number
  /** The answer sheet's text; undefined: the file is missing. */
  sheet: string | undefined
  mystery000Code: number
  sysctl: {oom_kill_allocating_task: number; oom_dump_tasks: number}
  /** mystery001 was run to its OOM death (the kernel log shows it). */
  oomInLog: boolean
  startLimit: Record<'faas001_a' | 'faas001_b', string>
  /** /var/lib/chaos-lab/profile (written by provisioning); undefined: the file is missing. */
  profile: 'desktop' | 'headless' | undefined
  /** /var/lib/chaos-lab/clipboard-agent, and whether that agent runs in chaos's session. */
  clipboard: {agent: string; running: boolean}
}

const FRESH_SHEET = readFileSync(fileURLToPath(new URL('../../provisioning/files/answers/lesson-2.yaml', import.meta.url)), 'utf8')
const ANSWERS: Record<string, string> = {
  mystery000_exit_code: '136',
  mystery000_signal: 'SIGFPE',
  sigterm_exit_code: '"143"',
  sigkill_exit_code: '137',
  mystery001_killed_by: 'the OOM-killer',
  oom_kill_allocating_task: '0',
  oom_dump_tasks: '1',
}
/** The provisioned sheet with the answers written in after each key (the comments above stay as they are). */
const ANSWERED_SHEET = Object.entries(ANSWERS).reduce((sheet, [key, answer]) => sheet.replace(new RegExp(`^${key}:$`, 'm'), `${key}: ${answer}`), FRESH_SHEET)

function provisionedVm(changes: Partial<LabVm> = {}): LabVm {
  return {
    memTotalMb: 3925, nproc: 2, chaosUser: true, missingTools: [], missingPrograms: [],
    units: {faas001_a: 'active', faas001_b: 'active'}, nginx: true, fizzbuzz: 'real', swapKb: 0,
    sheet: FRESH_SHEET, mystery000Code: 136, sysctl: {oom_kill_allocating_task: 0, oom_dump_tasks: 1},
    oomInLog: false, startLimit: {faas001_a: '10s', faas001_b: '10s'},
    profile: 'headless', clipboard: {agent: 'spice-vdagent', running: false},
    ...changes,
  }
}

const learnerDidChapter2 = (changes: Partial<LabVm> = {}): LabVm =>
  provisionedVm({sheet: ANSWERED_SHEET, oomInLog: true, startLimit: {faas001_a: '0', faas001_b: '0'}, ...changes})

const out = (stdout: string, code = 0): FakeExecReply => ({stdout, code})

/** The rules of the scripted VM; `log` records the order of experiment steps. */
function labVmRules(vm: LabVm, log: string[] = []): FakeRule[] {
  const load: {stop?: () => void; errors?: number} = {}
  const unitRe = /faas001_[ab]/
  const unitOf = (command: string) => (unitRe.exec(command)?.[0] ?? 'faas001_a') as 'faas001_a' | 'faas001_b'
  return [
    [/MemTotal/, () => out(`${vm.memTotalMb}\n`)],
    ['cat /var/lib/chaos-lab/profile 2>/dev/null || true', () => out(vm.profile ? `${vm.profile}\n` : '')],
    [/cat \/var\/lib\/chaos-lab\/clipboard-agent/, () => {
      const {agent, running} = vm.clipboard
      if (!['spice-vdagent', 'VBoxClient'].includes(agent)) return out(`no clipboard agent: ${agent}\n`)
      return out(`${running ? 'running' : 'not running'}: ${agent}\n`)
    }],
    ['nproc', () => out(`${vm.nproc}\n`)],
    [/^id -u chaos/, () => (vm.chaosUser ? out('ok\n') : {code: 1, stderr: "id: 'chaos': no such user\n"})],
    [/for tool in/, () => out(`missing:${vm.missingTools.map((t) => ` ${t}`).join('') || ' none'}\n`)],
    [/for f in mystery000/, () => out(`missing:${vm.missingPrograms.map((t) => ` ${t}`).join('') || ' none'}\n`)],
    [/systemctl is-active faas001_[ab] \|\| true$/, (request) => out(`${vm.units[unitOf(request.command)]}\n`)],
    [/curl -s -o \/dev\/null/, () => out(vm.nginx ? '200' : '000')],
    [/@@chaos-lab/, (request) => {
      const asked = [...request.command.matchAll(/127\.0\.0\.1:(\d+)\/api\/v1\/fizzbuzz\/(\w+)/g)].map((match) => ({port: match[1] ?? '', n: match[2] ?? ''}))
      return out(asked.map(({port, n}) => {
        const down = port === '8003' ? !vm.nginx : port === '8002' && vm.instanceB === 'dead'
        const [status, body] = down ? [0, '']
          : vm.fizzbuzz === 'static' ? [200, '{"result": "FizzBuzz"}']
          : /^\d+$/.test(n) ? [200, JSON.stringify({n: Number(n), result: fizzbuzz(Number(n)), instance: port === '8003' ? '8001' : port})]
          : [400, '{"error": "N must be a whole number"}']
        return `${body}\n@@chaos-lab status ${String(status).padStart(3, '0')} http://127.0.0.1:${port}/api/v1/fizzbuzz/${n}\n`
      }).join(''))
    }],
    [/SwapTotal/, () => out(`${vm.swapKb}\n`)],
    [/test -f ~chaos\/answers\/lesson-2\.yaml/, () => (vm.sheet === undefined ? {code: 1} : out('present\n'))],
    ['sudo -n cat -- ~chaos/answers/lesson-2.yaml', () => (vm.sheet === undefined
      ? {code: 1, stderr: 'cat: /home/chaos/answers/lesson-2.yaml: No such file or directory\n'}
      : out(vm.sheet))],
    [/\/opt\/chaos-lab\/chapter2\/mystery000 .*\$\(\( \$\? - 128 \)\)/, () => out(`${vm.mystery000Code - 128}\n`)],
    [/\/opt\/chaos-lab\/chapter2\/mystery000 .*echo \$\?/, () => out(`${vm.mystery000Code}\n`)],
    [/kill -TERM/, () => out('143\n')],
    [/kill -KILL/, () => out('137\n')],
    [/oom_kill_allocating_task$/, () => out(`${vm.sysctl.oom_kill_allocating_task}\n`)],
    [/oom_dump_tasks$/, () => out(`${vm.sysctl.oom_dump_tasks}\n`)],
    [/grep -cE .*mystery001/, () => out(vm.oomInLog ? '2\n' : '0\n')],
    [/StartLimitIntervalUSec --value faas001_[ab]$/, (request) => out(`${vm.startLimit[unitOf(request.command)]}\n`)],
    // The experiment (labs/lesson-2/experiments/killer-while.yaml, run by the engine): the load generator runs
    // until the engine touches its stop file, then prints its seconds and totals; the killer prints a line per kill.
    [/python3 -u -c /, () => ({
      stream: async (write) => {
        write(`${JSON.stringify({start: 1_700_000_000, concurrency: 10})}\n${JSON.stringify({s: 0, ok: 800, non2xx: 0, failed: 0, lat: [4, 5]})}\n`)
        await new Promise<void>((resolve) => { load.stop = resolve })
        const errors = load.errors ?? 0
        write(`${JSON.stringify({s: 1, ok: 700, non2xx: errors, failed: 0, lat: [6]})}\n${JSON.stringify({total: {ok: 1500, non2xx: errors, failed: 0}})}\n`)
        return {code: 0}
      },
    })],
    [/^touch \/tmp\/chaos-lab-load-/, () => { load.stop?.(); return out('') }],
    [/\/opt\/chaos-lab\/chapter2\/sturdy_killer_while\.sh/, () => {
      log.push('experiment')
      const fixed = vm.startLimit.faas001_a === '0' && vm.startLimit.faas001_b === '0'
      if (!fixed) vm.units = {faas001_a: 'failed', faas001_b: 'failed'}
      load.errors = fixed && vm.nginx && !vm.experimentErrors ? 0 : 1234
      const kills = vm.experimentKills ?? 6
      const lines = ['faas001_a', 'faas001_b'].flatMap((unit) => Array.from({length: kills}, (_, i) => `12:00:00.000 ${unit} [${i + 1}/6]: sent SIGTERM to its main process ${100 + i}`))
      return out(lines.map((line) => `${line}\n`).join(''), kills === 6 ? 0 : 1)
    }],
    [/systemctl is-active faas001_a faas001_b </, () => out(`${vm.units.faas001_a}\n${vm.units.faas001_b}\n`, vm.units.faas001_a === 'active' && vm.units.faas001_b === 'active' ? 0 : 3)],
    [/curl -sS --max-time \d+ -w/, () => out(vm.nginx ? '{"result": "FizzBuzz"}\n200' : '\n000', vm.nginx ? 0 : 7)],
    [/ -n systemctl reset-failed faas001_a faas001_b </, () => {
      log.push('teardown')
      return out('')
    }],
    [/ -n systemctl start faas001_a faas001_b </, () => {
      vm.units = {faas001_a: 'active', faas001_b: 'active'}
      return out('')
    }],
    [/curl -s -o \/dev\/null --max-time 1 http:\/\/127\.0\.0\.1:8001\/ && curl/, () => out('')],
  ]
}

let server: FakeSshServer
let home: string

beforeAll(async () => {
  server = await startFakeSshServer()
  home = mkdtempSync(join(tmpdir(), 'chaos-lab-check-'))
  // --target keeps its known_hosts in the user's config folder: a temporary one here.
  // Waits are instant here: retry delays, and the experiment's warm-up and pauses (the fake VM needs none).
  setDepsForTesting({env: {...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config')}, sleep: () => Promise.resolve()})
})

afterAll(async () => {
  setDepsForTesting(undefined)
  await server.close()
  rmSync(home, {recursive: true, force: true})
})

afterEach(() => {
  process.exitCode = undefined
  vi.restoreAllMocks()
})

const flags = (user = 'chaos') => ({dir: home, target: `ssh://${user}@127.0.0.1:${server.port}`, identity: server.identityFile})

async function check(lesson: string, vm: LabVm, user = 'chaos', extra: {memory?: number; cpus?: number} = {}) {
  const log: string[] = []
  server.setRules(labVmRules(vm, log))
  const outcome = await checkLesson(lesson, {...flags(user), ...extra}, undefined, deps())
  const byId = Object.fromEntries(outcome.run.checks.map((c) => [c.id, c]))
  return {outcome, run: outcome.run, byId, log, exitCode: exitCodeFor(outcome)}
}

describe('check lesson-1 over SSH', () => {
  it('passes a VM as provisioned, logged in as chaos or as another sudo user', async () => {
    for (const user of ['chaos', 'vagrant']) {
      const {run, exitCode} = await check('lesson-1', provisionedVm(), user)
      expect(run.checks.filter((c) => c.status !== 'pass')).toEqual([])
      expect(run.target).toBe(`${user}@127.0.0.1:${server.port}`)
      expect(run.summary).toEqual({total: 11, pass: 11, fail: 0, blocked: 0, error: 0})
      expect(exitCode).toBe(0)
    }
  })

  it('holds memory and CPUs to --memory/--cpus, else the book\'s defaults, and says which', async () => {
    const small = await check('lesson-1', provisionedVm({memTotalMb: 1960}))
    expect(small.byId.memory).toMatchObject({status: 'fail', message: like(/^memory the kernel sees \(MB\): 1960 \(expected at least 3481\.6 = 85% of memoryMb 4096, the book's default/)})
    const sized = await check('lesson-1', provisionedVm({memTotalMb: 1960, nproc: 4}), 'chaos', {memory: 2048, cpus: 2})
    expect(sized.byId.memory?.status).toBe('pass')
    expect(sized.byId.cpus).toMatchObject({status: 'fail', message: 'CPUs: 4 (expected 2 = cpus 2, from --memory/--cpus)'})
  })

  it('finds what is broken and says how to repair it', async () => {
    const {run, byId, exitCode} = await check('lesson-1', provisionedVm({
      chaosUser: false, missingTools: ['vim', 'netstat'], units: {faas001_a: 'active', faas001_b: 'failed'}, swapKb: 1048572, fizzbuzz: 'static', sheet: undefined,
    }))
    expect(exitCode).toBe(1)
    expect(byId['user-chaos']).toMatchObject({status: 'fail', message: like(/no such user/)})
    expect(byId.tools).toMatchObject({status: 'fail', message: 'some of the book\'s tools are not installed (the output "missing: vim netstat" does not match /^missing: none$/)'})
    expect(byId['faas001-b-active']).toMatchObject({status: 'fail', message: like(/^faas001_b is not running .*"failed".*\(after 3 tries\)$/)})
    expect(byId.fizzbuzz).toMatchObject({status: 'fail', message: like(/answered "FizzBuzz", which is not FizzBuzz of/)})
    expect(byId['no-swap']?.status).toBe('fail')
    expect(byId['answer-sheet']?.status).toBe('fail')
    for (const c of run.checks.filter((c) => c.status !== 'pass')) expect(c.hint).not.toBe('')
  })

  it('checks the clipboard agent only on a desktop VM (the VM\'s profile marker, else the lab\'s profile)', async () => {
    const headless = await check('lesson-1', provisionedVm({profile: 'headless'}))
    expect(headless.byId['clipboard-agent']).toBeUndefined()
    expect(headless.run.summary.total).toBe(11)
    const desktop = await check('lesson-1', provisionedVm({profile: 'desktop', clipboard: {agent: 'VBoxClient', running: true}}))
    expect(desktop.byId['clipboard-agent']).toMatchObject({status: 'pass'})
    expect(desktop.run.summary).toEqual({total: 12, pass: 12, fail: 0, blocked: 0, error: 0})
    const stopped = await check('lesson-1', provisionedVm({profile: 'desktop', clipboard: {agent: 'spice-vdagent', running: false}}))
    expect(stopped.byId['clipboard-agent']).toMatchObject({status: 'fail', message: like(/^the shared clipboard's agent is not running .*"not running: spice-vdagent"/), hint: like(/spice-vdagent/)})
    const none = await check('lesson-1', provisionedVm({profile: 'desktop', clipboard: {agent: 'none', running: false}}))
    expect(none.byId['clipboard-agent']).toMatchObject({status: 'fail', message: like(/no clipboard agent: none/)})
    // No marker (provisioned by an older chaos-lab) and --target (no lab folder): the check runs and says why.
    const unknown = await check('lesson-1', provisionedVm({profile: undefined, clipboard: {agent: 'unknown', running: false}}))
    expect(unknown.byId['clipboard-agent']?.status).toBe('fail')
  }, 60_000)

  it('blocks the FizzBuzz probe when nginx does not answer', async () => {
    const {byId} = await check('lesson-1', provisionedVm({nginx: false}))
    expect(byId['nginx-answers']?.status).toBe('fail')
    expect(byId.fizzbuzz).toMatchObject({status: 'blocked', message: 'blocked by nginx-answers'})
  })
})

describe('check lesson-2 over SSH', () => {
  it('fails a freshly provisioned VM with a hint for every item, and never runs the experiment', async () => {
    const {run, byId, log, exitCode} = await check('lesson-2', provisionedVm())
    expect(exitCode).toBe(1)
    expect(run.summary).toEqual({total: 14, pass: 3, fail: 10, blocked: 1, error: 0})
    expect(byId['faas001-a-active']?.status).toBe('pass')
    expect(byId['mystery000-exit-code']).toMatchObject({status: 'fail', message: 'not answered yet', hint: like(/^Answer mystery000_exit_code in ~\/answers\/lesson-2\.yaml\. Run \.\/mystery000/)})
    expect(byId['mystery001-oom-killed']).toMatchObject({status: 'fail', message: like(/kills of mystery001 in the kernel log: 0 \(expected at least 1\)/)})
    expect(byId['start-limit-fix-a']).toMatchObject({status: 'fail', message: like(/"10s"/)})
    expect(byId['killer-while-under-load']).toMatchObject({status: 'blocked', message: 'blocked by start-limit-fix-a, start-limit-fix-b'})
    expect(log).toEqual([])
    for (const c of run.checks.filter((c) => c.status !== 'pass')) expect(c.hint.length).toBeGreaterThan(10)
    // What the learner sees (durations left out: a check may well take 136 ms).
    expect(JSON.stringify(run.checks.map((c) => ({...c, durationMs: 0})))).not.toMatch(/\b136\b|\b143\b|SIGFPE/)
  })

  it('passes when the learner did the chapter; the experiment runs alone and the VM is put back', async () => {
    const {run, log, exitCode} = await check('lesson-2', learnerDidChapter2())
    expect(run.checks.filter((c) => c.status !== 'pass')).toEqual([])
    expect(exitCode).toBe(0)
    expect(log).toEqual(['experiment', 'teardown'])
    // Alone: after the killer only the experiment's own commands run (the load's stop, the hypothesis's probes,
    // the rollbacks), the rollbacks last.
    const commands = server.requests.map((r) => r.command)
    const experiment = commands.findIndex((c) => c.includes('sturdy_killer_while'))
    const after = commands.slice(experiment + 1)
    expect(after.every((c) => /^touch \/tmp\/chaos-lab-load-|systemctl is-active faas001_a faas001_b <|curl -sS|systemctl (reset-failed|start) faas001_a faas001_b <|--max-time 1 http:\/\/127\.0\.0\.1:8001\//.test(c)), after.join('\n')).toBe(true)
    expect(after.slice(-3).map((c) => /systemctl (reset-failed|start)|(curl) -s -o/.exec(c)?.slice(1).find(Boolean))).toEqual(['reset-failed', 'start', 'curl'])
  })

  it('catches answers written without doing the chapter, and the fix on one unit only', async () => {
    const {byId} = await check('lesson-2', learnerDidChapter2({oomInLog: false, startLimit: {faas001_a: '0', faas001_b: '10s'}}))
    expect(byId['mystery001-killed-by']?.status).toBe('pass')
    expect(byId['mystery001-oom-killed']?.status).toBe('fail')
    expect(byId['start-limit-fix-a']?.status).toBe('pass')
    expect(byId['start-limit-fix-b']?.status).toBe('fail')
    expect(byId['killer-while-under-load']?.message).toBe('blocked by start-limit-fix-b')
  })

  it('checks answers against the VM\'s own truth', async () => {
    const {byId} = await check('lesson-2', learnerDidChapter2({mystery000Code: 139, sysctl: {oom_kill_allocating_task: 1, oom_dump_tasks: 1}}))
    expect(byId['mystery000-exit-code']).toMatchObject({status: 'fail', message: 'mystery000_exit_code: 136 is not right'})
    expect(byId['mystery000-signal']).toMatchObject({status: 'fail', message: 'mystery000_signal: SIGFPE (8) is not right'})
    expect(byId['oom-kill-allocating-task']?.status).toBe('fail')
    expect(byId['oom-dump-tasks']?.status).toBe('pass')
  })

  it('catches a dead instance B that nginx hides by retrying A: the probe asks 8001 and 8002 directly', async () => {
    const {byId, log} = await check('lesson-2', learnerDidChapter2({instanceB: 'dead'}))
    expect(byId['faas001-b-active']?.status).toBe('pass')
    expect(byId['fizzbuzz-through-nginx']).toMatchObject({status: 'fail', message: like(/^127\.0\.0\.1:8002: asked \d+: nothing answers \(curl could not connect\)/)})
    expect(byId['killer-while-under-load']?.status).toBe('blocked')
    expect(log).toEqual([])
  })

  it('no fault, no verdict: an experiment whose killer delivered no kills is an error, and the VM is still put back', async () => {
    const {byId, log, exitCode} = await check('lesson-2', learnerDidChapter2({experimentKills: 0}))
    expect(byId['killer-while-under-load']).toMatchObject({status: 'error', message: like(/^the experiment's fault was not injected, so it says nothing \(0 of 12 kills marked; kill-each-instance-six-times: .*exit code 1/)})
    expect(exitCode).toBe(1)
    expect(log).toEqual(['experiment', 'teardown'])
  })

  it('fails the experiment when users see errors, naming the numbers, and still puts the VM back', async () => {
    const vm = learnerDidChapter2({experimentErrors: true})
    const {byId, log} = await check('lesson-2', vm)
    expect(byId['killer-while-under-load']).toMatchObject({status: 'fail', message: like(/^users noticed the killer-while experiment \(non-2xx responses: 1234 \(expected at most 0\); no-request-failed-or-erred: 1234\)$/)})
    expect(log).toEqual(['experiment', 'teardown'])
  })

  it('gives every answer check the line when the sheet is not valid YAML', async () => {
    const {byId, run} = await check('lesson-2', learnerDidChapter2({sheet: ANSWERED_SHEET.replace('mystery000_signal: SIGFPE', 'mystery000_signal: "SIGFPE')}))
    const answers = run.checks.filter((c) => c.id.match(/exit-code|signal|killed-by|allocating|dump/))
    expect(answers).toHaveLength(7)
    for (const c of answers) {
      expect(c.status).toBe('fail')
      expect(c.hint).toMatch(/^Fix line \d+ of ~\/answers\/lesson-2\.yaml/)
    }
    expect(byId['mystery001-oom-killed']?.status).toBe('pass')
  })

  it('reports a dropped connection as errors, never passes, and exit 3', async () => {
    const vm = learnerDidChapter2()
    const rules = labVmRules(vm)
    server.setRules([[/StartLimitIntervalUSec/, {drop: true, delayMs: 20}], ...rules])
    const outcome = await checkLesson('lesson-2', flags(), undefined, deps())
    const statuses = Object.fromEntries(outcome.run.checks.map((c) => [c.id, c.status]))
    expect(statuses['start-limit-fix-a']).toBe('error')
    expect(statuses['start-limit-fix-b']).toBe('error')
    expect(statuses['killer-while-under-load']).toBe('blocked')
    expect(outcome.run.summary.error).toBeGreaterThanOrEqual(2)
    expect(outcome.connectionLost).toBe(true)
    expect(exitCodeFor(outcome)).toBe(3)
    expect(outcome.run.checks.find((c) => c.id === 'start-limit-fix-a')?.message).toMatch(/SSH connection .* was lost/)
  })

  it('is unreachable (exit 3) when nothing answers SSH', async () => {
    const closed = await startFakeSshServer()
    const port = closed.port
    await closed.close()
    const error = await checkLesson('lesson-1', {...flags(), target: `ssh://chaos@127.0.0.1:${port}`}, undefined, deps()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UnreachableError)
    expect((error as UnreachableError).exitCode).toBe(3)
  })
})

describe('the commands through oclif', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url))

  function capture() {
    let stdout = ''
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => { stdout += chunk.toString(); return true })
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    return () => stdout
  }

  it('check --json prints exactly the LessonRun and exits 1 when work is left; --junit writes the XML', async () => {
    server.setRules(labVmRules(provisionedVm()))
    const junit = join(home, 'results.xml')
    const stdout = capture()
    await CheckCommand.run(['lesson-2', '--target', flags().target, '--identity', server.identityFile, '--json', '--junit', junit], root)
    const run = JSON.parse(stdout()) as LessonRun
    expect(Object.keys(run)).toEqual(['lesson', 'target', 'started', 'finished', 'summary', 'checks'])
    expect(run.summary.total).toBe(14)
    expect(process.exitCode).toBe(1)
    expect(existsSync(junit)).toBe(true)
    expect(readFileSync(junit, 'utf8')).toMatch(/<testsuite name="lesson-2" tests="14" failures="11" errors="0"/)
  })

  it('check prints the table and exits 0 when everything passed', async () => {
    server.setRules(labVmRules(learnerDidChapter2()))
    const stdout = capture()
    await CheckCommand.run(['lesson-2', '--target', flags().target, '--identity', server.identityFile], root)
    expect(stdout()).toMatch(/^lesson-2 on chaos@127\.0\.0\.1:\d+\n\n {2}PASS {5}mystery000's exit code\n/)
    expect(stdout()).toMatch(/14 checks: all passed/)
    expect(process.exitCode ?? 0).toBe(0)
  })

  it('check of an unknown lesson exits 2 with "did you mean", before connecting', async () => {
    const before = server.requests.length
    const stdout = capture()
    await CheckCommand.run(['lesson2', '--target', flags().target, '--identity', server.identityFile, '--json'], root)
    expect(process.exitCode).toBe(2)
    expect(JSON.parse(stdout())).toMatchObject({error: {code: 'unknown_lesson', message: 'There is no lesson "lesson2". Did you mean "lesson-2"?'}})
    expect(server.requests.length).toBe(before)
  })

  it('labs lists the lessons; labs show prints questions, never truths', async () => {
    let stdout = capture()
    await LabsCommand.run(['--json'], root)
    expect(JSON.parse(stdout())).toEqual({lessons: [
      containing({id: 'lesson-1', checks: 12}),
      containing({id: 'lesson-2', checks: 14, chapter: 2}),
      containing({id: 'lesson-3', checks: 11, chapter: 3}),
      containing({id: 'lesson-4', checks: 11, chapter: 4}),
    ]})
    vi.restoreAllMocks()
    stdout = capture()
    await LabsShowCommand.run(['lesson-1'], root)
    expect(stdout()).toMatch(/The clipboard agent runs in the learner's session \(desktop profile\) \[the VM, desktop profile only\]/)
    vi.restoreAllMocks()
    stdout = capture()
    await LabsShowCommand.run(['lesson-2'], root)
    expect(stdout()).toMatch(/With which exit code does mystery000 end\? \(mystery000_exit_code\)/)
    expect(stdout()).not.toMatch(/sudo|ulimit|oom killer|\b136\b/i)
    // Where the lab differs from the book: the same rows as the lesson's README table.
    const differences = loadLesson('lesson-2').differences
    expect(differences.map((d) => d.topic)).toEqual(expect.arrayContaining(['the VM', 'FizzBuzz instances', 'reading the kernel log']))
    expect(stdout()).toContain('Where this lab differs from the book:')
    const readme = readFileSync(fileURLToPath(new URL('../../labs/lesson-2/README.md', import.meta.url)), 'utf8')
    for (const d of differences) {
      expect(stdout()).toContain(`  - ${d.topic}: the book: ${d.book}; here: ${d.lab}`)
      expect(readme).toContain(`| ${d.topic} | ${d.book} | ${d.lab} |`)
    }
    vi.restoreAllMocks()
    stdout = capture()
    await LabsShowCommand.run(['lesson-9', '--json'], root)
    expect(process.exitCode).toBe(2)
    expect(JSON.parse(stdout())).toMatchObject({error: {code: 'unknown_lesson'}})
  })
})
