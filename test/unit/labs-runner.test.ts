import {describe, expect, it} from 'vitest'

import {InternalError} from '../../src/errors.js'
import {parseLesson} from '../../src/lessons/load.js'
import {exitCodeFor, runLesson, type RunLessonOptions} from '../../src/lessons/runner.js'
import {ConnectionLostError} from '../../src/ssh/session.js'
import type {ExecResult} from '../../src/ssh/session.js'
import {FakeSession} from '../helpers/fake-session.js'

const TARGET = {host: '127.0.0.1', port: 2222, user: 'chaos', identityFile: 'k', name: 'vm'}

function lab(checks: string, extra = '') {
  return parseLesson(`lesson: lesson-t\ntitle: T\ndescription: D\n${extra}checks:\n${checks}`, 'lab.yaml')
}

const state = (id: string, command: string, more = '') =>
  `  - id: ${id}\n    title: Check ${id}\n    hint: Hint ${id}.\n    kind: state\n    command: ${command}\n${more}`

const noSleep: RunLessonOptions = {target: 'chaos@vm', sleep: () => Promise.resolve()}
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('runLesson', () => {
  it('reports in lab.yaml order whatever order checks finish in, and fills the LessonRun', async () => {
    const session = new FakeSession([
      [/^slow$/, async () => { await wait(30); return {stdout: 'x'} }],
      [/^fast$/, {stdout: 'x'}],
      [/^bad$/, {code: 2, stderr: 'nope\n'}],
    ], TARGET)
    const times = [new Date('2026-01-02T03:04:05.000Z'), new Date('2026-01-02T03:04:07.500Z')]
    const {run, connectionLost} = await runLesson(lab(state('one', 'slow') + state('two', 'fast') + state('three', 'bad')), session, {...noSleep, now: () => times.shift() ?? new Date(0)})
    expect(connectionLost).toBe(false)
    expect(run).toMatchObject({
      lesson: 'lesson-t', target: 'chaos@vm', started: '2026-01-02T03:04:05.000Z', finished: '2026-01-02T03:04:07.500Z',
      summary: {total: 3, pass: 2, fail: 1, blocked: 0, error: 0},
    })
    expect(run.checks.map((c) => [c.id, c.status, c.hint])).toEqual([['one', 'pass', ''], ['two', 'pass', ''], ['three', 'fail', 'Hint three.']])
    expect(run.checks[2]?.message).toBe('exit code 2 (expected 0): nope')
    expect(run.checks[0]?.durationMs).toBeGreaterThanOrEqual(25)
  })

  it('runs at most `concurrency` checks at once over the one session', async () => {
    let inFlight = 0
    let most = 0
    const session = new FakeSession([[/^work/, async () => {
      inFlight++
      most = Math.max(most, inFlight)
      await wait(10)
      inFlight--
      return {}
    }]], TARGET)
    const checks = Array.from({length: 20}, (_, i) => state(`c${i}`, `work ${i}`)).join('')
    const {run} = await runLesson(lab(checks), session, noSleep)
    expect(run.summary.pass).toBe(20)
    expect(most).toBe(16)
    most = 0
    const {run: two} = await runLesson(lab(checks), session, {...noSleep, concurrency: 2})
    expect(two.summary.pass).toBe(20)
    expect(most).toBe(2)
  })

  it('blocks a check whose prerequisite did not pass, transitively, and never runs it', async () => {
    const session = new FakeSession([[/^false$/, {code: 1}]], TARGET)
    const {run} = await runLesson(lab(
      state('units', "'false'") +
      state('fix', "'true'") +
      state('experiment', 'run-experiment', '    needs: [units, fix]\n') +
      state('after', 'after', '    needs: [experiment]\n'),
    ), session, noSleep)
    expect(run.checks.map((c) => [c.id, c.status, c.message])).toEqual([
      ['units', 'fail', 'exit code 1 (expected 0)'],
      ['fix', 'pass', 'as expected'],
      ['experiment', 'blocked', 'blocked by units'],
      ['after', 'blocked', 'blocked by experiment'],
    ])
    expect(run.checks[2]?.hint).toBe('First make "Check units" pass; this check runs after it.')
    expect(run.checks[2]?.durationMs).toBe(0)
    expect(session.commands).not.toContain('run-experiment')
    expect(run.summary).toEqual({total: 4, pass: 1, fail: 1, blocked: 2, error: 0})
  })

  it('runs a check only after what it needs has finished, even when it comes first in lab.yaml', async () => {
    const session = new FakeSession([[/^prepare$/, async () => { await wait(20); return {} }]], TARGET)
    const {run} = await runLesson(lab(state('late', 'use', '    needs: [early]\n') + state('early', 'prepare')), session, noSleep)
    expect(run.checks.map((c) => c.status)).toEqual(['pass', 'pass'])
    expect(session.commands).toEqual(['prepare', 'use'])
  })

  it('retries a check that does not pass yet, with the delay, and says how many tries it took', async () => {
    let calls = 0
    const session = new FakeSession([[/^warming$/, () => ({stdout: ++calls >= 3 ? 'active' : 'activating'})], [/^never$/, {stdout: 'failed'}]], TARGET)
    const sleeps: number[] = []
    const {run} = await runLesson(lab(
      state('warm', 'warming', "    expect: {stdoutMatches: '^active$'}\n    retry: {attempts: 5, delaySec: 1.5}\n") +
      state('cold', 'never', "    expect: {stdoutMatches: '^active$'}\n    retry: {attempts: 2, delaySec: 0}\n"),
    ), session, {...noSleep, sleep: (ms) => { sleeps.push(ms); return Promise.resolve() }})
    expect(run.checks[0]).toMatchObject({status: 'pass', message: 'as expected'})
    expect(calls).toBe(3)
    expect(run.checks[1]).toMatchObject({status: 'fail', message: 'the output "failed" does not match /^active$/ (after 2 tries)'})
    expect(sleeps.sort()).toEqual([0, 1500, 1500])
  })

  it('gives each attempt the time limit: a check that runs over is an error, and the command gets the rest of the time', async () => {
    const timeouts: (number | undefined)[] = []
    const session = new FakeSession([[/^hang$/, (_command, options) => { timeouts.push(options.timeoutMs); return new Promise<never>(() => undefined) }]], TARGET)
    const {run} = await runLesson(lab(state('stuck', 'hang', '    timeoutSec: 0.05\n    retry: {attempts: 2, delaySec: 0}\n')), session, noSleep)
    expect(run.checks[0]).toMatchObject({status: 'error', message: 'did not finish within 0.05 s (after 2 tries)'})
    expect(run.checks[0]?.hint).toMatch(/overloaded or stuck/)
    expect(timeouts).toHaveLength(2)
    for (const ms of timeouts) expect(ms).toBeLessThanOrEqual(50)
    expect(exitCodeFor({run, connectionLost: false})).toBe(1)
  })

  it('turns a lost connection into errors (exit 3) and a bug in a check into an error, never a pass', async () => {
    const session = new FakeSession([
      [/^drop$/, () => Promise.reject(new ConnectionLostError(TARGET, 'the connection closed'))],
      [/^bug$/, () => Promise.reject(new TypeError('x is undefined'))],
    ], TARGET)
    const {run, connectionLost} = await runLesson(lab(state('a', 'drop', '    retry: {attempts: 3, delaySec: 0}\n') + state('b', 'bug') + state('c', "'true'")), session, noSleep)
    expect(run.checks.map((c) => c.status)).toEqual(['error', 'error', 'pass'])
    expect(run.checks[0]?.message).toBe('The SSH connection to vm was lost: the connection closed.')
    expect(run.checks[0]?.hint).toMatch(/chaos-lab status/)
    expect(session.commands.filter((c) => c === 'drop')).toHaveLength(1)
    expect(run.checks[1]?.message).toBe('chaos-lab hit a bug in this check: x is undefined')
    expect(connectionLost).toBe(true)
    expect(exitCodeFor({run, connectionLost})).toBe(3)
  })

  it('refuses a lab whose needs go round in a circle', async () => {
    const looped = lab(state('a', 'x') + state('b', 'y'))
    const [a, b] = looped.checks
    if (!a || !b) throw new Error('two checks expected')
    a.needs = ['b']
    b.needs = ['a']
    await expect(runLesson(looped, new FakeSession([], TARGET), noSleep)).rejects.toThrow(InternalError)
  })

  it('holds numbers against run-time parameters and says where they came from', async () => {
    const session = new FakeSession([[/meminfo/, {stdout: '3000\n'}], [/^nproc$/, {stdout: '2\n'}]], TARGET)
    const checks = state('memory', 'meminfo', "    expect:\n      number: {label: memory (MB), pattern: '^(\\d+)$', min: {param: memoryMb, factor: 0.85}}\n") +
      state('cpus', 'nproc', "    expect:\n      number: {label: CPUs, pattern: '^(\\d+)$', min: {param: cpus}, max: {param: cpus}}\n")
    const {run} = await runLesson(lab(checks), session, {...noSleep, params: {values: {memoryMb: 4096, cpus: 4}, source: 'from chaos-lab.yaml'}})
    expect(run.checks.map((c) => c.message)).toEqual([
      'memory (MB): 3000 (expected at least 3481.6 = 85% of memoryMb 4096, from chaos-lab.yaml)',
      'CPUs: 2 (expected 4 = cpus 4, from chaos-lab.yaml)',
    ])
    const {run: defaults} = await runLesson(lab(checks), session, noSleep)
    expect(defaults.checks.map((c) => c.status)).toEqual(['fail', 'pass'])
    expect(defaults.checks[0]?.message).toMatch(/the book's default \(pass --memory and --cpus/)
  })
})

describe('behaviour checks', () => {
  const behaviour = (id: string, run: string, more = '') =>
    `  - id: ${id}\n    title: Experiment ${id}\n    hint: Hint ${id}.\n    kind: behaviour\n    run: ${run}\n    teardown: undo ${id}\n${more.includes('injected:') ? '' : "    injected: {stdoutMatches: '^'}\n"}${more}`

  it('run alone: nothing else is in flight while an experiment runs, and its teardown runs inside its slot', async () => {
    const events: string[] = []
    let inFlight = 0
    const reply = (name: string) => async (): Promise<Partial<ExecResult>> => {
      inFlight++
      events.push(`${name} start ${inFlight}`)
      await wait(name.startsWith('experiment') ? 30 : 5)
      events.push(`${name} end`)
      inFlight--
      return {}
    }
    const session = new FakeSession([
      [/^experiment$/, reply('experiment')],
      [/^undo e$/, reply('teardown')],
      [/^s\d$/, (command) => reply(command)()],
    ], TARGET)
    const {run} = await runLesson(lab(state('a', 's1') + state('b', 's2') + behaviour('e', 'experiment') + state('c', 's3') + state('d', 's4')), session, noSleep)
    expect(run.summary.pass).toBe(5)
    const start = events.indexOf('experiment start 1')
    expect(start).toBeGreaterThan(-1)
    expect(events.slice(start, start + 4)).toEqual(['experiment start 1', 'experiment end', 'teardown start 1', 'teardown end'])
  })

  it('always tears down: after a pass, a failure and a timeout; a failed teardown turns a pass into an error', async () => {
    const session = new FakeSession([
      [/^ok$/, {stdout: 'Failed requests: 0\n'}],
      [/^bad$/, {stdout: 'Failed requests: 7\n'}],
      [/^hang$/, () => new Promise<never>(() => undefined)],
      [/^undo broken$/, {code: 5, stderr: 'Job for faas001_a.service failed\n'}],
    ], TARGET)
    const expectZero = "    expect:\n      number: {label: failed requests, pattern: 'Failed requests:\\s+(\\d+)', max: 0}\n"
    const {run} = await runLesson(lab(
      behaviour('passes', 'ok', expectZero) +
      behaviour('fails', 'bad', `${expectZero}    failMessage: users noticed\n`) +
      behaviour('slow', 'hang', `${expectZero}    timeoutSec: 0.05\n`) +
      behaviour('broken', 'ok', expectZero),
    ), session, {...noSleep, teardownTimeoutSec: 1})
    expect(session.commands.filter((c) => c.startsWith('undo '))).toEqual(['undo passes', 'undo fails', 'undo slow', 'undo broken'])
    expect(run.checks.map((c) => [c.status, c.message])).toEqual([
      ['pass', 'failed requests: 0'],
      ['fail', 'users noticed (failed requests: 7 (expected at most 0))'],
      ['error', 'did not finish within 0.05 s'],
      ['error', 'the experiment passed, but putting the VM back failed (exit code 5: Job for faas001_a.service failed)'],
    ])
  })

  it('no fault, no verdict: without the evidence of its fault an experiment is an error, never a pass', async () => {
    const evidence = "    injected:\n      stdoutMatches: '^killer exit: 0$'\n      number: {label: kills, pattern: '^kills: (\\d+)$', min: 6}\n" +
      "    expect:\n      number: {label: failed requests, pattern: 'Failed requests:\\s+(\\d+)', max: 0}\n"
    const session = new FakeSession([
      [/^real$/, {stdout: 'Failed requests: 0\nkiller exit: 0\nkills: 6\n'}],
      [/^noop$/, {stdout: 'Failed requests: 0\nkiller exit: 0\nkills: 0\n'}],
      [/^refused$/, {stdout: 'Failed requests: 0\nkiller exit: 1\nkills: 0\n'}],
      [/^silent$/, {stdout: ''}],
    ], TARGET)
    const {run} = await runLesson(lab(['real', 'noop', 'refused', 'silent'].map((id) => behaviour(id, id, evidence)).join('')), session, noSleep)
    expect(run.checks.map((c) => [c.id, c.status])).toEqual([['real', 'pass'], ['noop', 'error'], ['refused', 'error'], ['silent', 'error']])
    expect(run.checks[1]?.message).toBe("the experiment's fault was not injected, so it says nothing (kills: 0 (expected at least 6))")
    expect(run.checks[2]?.message).toMatch(/does not match \/\^killer exit: 0\$\/; kills: 0/)
  })

  it('a behaviour check must state the evidence of its fault (injected), and not only what must not show', () => {
    const without = () => lab(behaviour('e', 'x', ''.padEnd(0)).replace("    injected: {stdoutMatches: '^'}\n", ''))
    expect(without).toThrow(/injected/)
    expect(() => lab(behaviour('e', 'x', "    injected: {stdoutNotMatches: 'skipped'}\n"))).toThrow(/injected must say what the output must show/)
  })

  it('does not run the experiment when its setup fails, but still tears down', async () => {
    const session = new FakeSession([[/^prepare$/, {code: 1, stderr: 'no ab\n'}]], TARGET)
    const {run} = await runLesson(lab(behaviour('e', 'experiment', '    setup: prepare\n')), session, noSleep)
    expect(run.checks[0]).toMatchObject({status: 'error', message: 'the experiment\'s setup did not work (exit code 1: no ab), so it was not run'})
    expect(session.commands).toEqual(['prepare', 'undo e'])
  })
})

describe('exitCodeFor', () => {
  const run = (statuses: ('pass' | 'fail' | 'blocked' | 'error')[]) => {
    const summary = {total: statuses.length, pass: 0, fail: 0, blocked: 0, error: 0}
    for (const s of statuses) summary[s]++
    return {lesson: 'l', target: 't', started: '', finished: '', summary, checks: []}
  }
  it.each([
    [['pass', 'pass'], false, 0],
    [['pass', 'fail'], false, 1],
    [['pass', 'blocked'], false, 1],
    [['pass', 'error'], false, 1],
    [['error'], false, 1],
    [['pass', 'error'], true, 3],
    [['pass'], true, 3],
  ] as const)('%j (connection lost: %s) → %d', (statuses, connectionLost, code) => {
    expect(exitCodeFor({run: run([...statuses]), connectionLost})).toBe(code)
  })
})
