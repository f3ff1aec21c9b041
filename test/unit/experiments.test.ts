import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {Ajv} from 'ajv'
import {describe, expect, it} from 'vitest'

import {ConfigError} from '../../src/errors.js'
import {runExperiment} from '../../src/experiments/engine.js'
import {listExperimentFiles, loadExperiment, parseExperiment} from '../../src/experiments/files.js'
import {exitCodeForJournal, type Journal, type LoadSecond} from '../../src/experiments/journal.js'
import {loadCommand, parseSamplerLine, samplerCommand, sumSeconds, whySummary} from '../../src/experiments/load.js'
import {AB_SAMPLER, abCommand, abRequestCap} from '../../src/experiments/load-ab.js'
import {argumentWords, parseHttpOutput, processCommand, withinTolerance} from '../../src/experiments/providers.js'
import {ConnectionLostError} from '../../src/ssh/session.js'
import {verdictOf} from '../../src/lessons/kinds/experiment.js'
import {loadLesson} from '../../src/lessons/load.js'
import {runLesson} from '../../src/lessons/runner.js'
import {plainSecond, renderChart} from '../../src/report/experiment-chart.js'
import {renderExperimentHtml} from '../../src/report/experiment-html.js'
import {LiveView} from '../../src/report/experiment-live.js'
import {FakeSession} from '../helpers/fake-session.js'

const schema = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'schemas', 'experiment-journal.schema.json'), 'utf8')) as object
const validate = new Ajv({allErrors: true}).compile(schema)

const MINIMAL = `
title: T
description: D
steady-state-hypothesis:
  title: H
  probes:
    - {type: probe, name: up, tolerance: 0, provider: {type: process, path: systemctl, arguments: is-active x}}
method:
  - {type: action, name: kill, provider: {type: process, path: /opt/chaos-lab/k.sh}}
  - {type: pause, seconds: 0}
rollbacks:
  - {type: action, name: start, provider: {type: process, path: sudo, arguments: [-n, systemctl, start, x]}}
`

describe('experiment files', () => {
  it('the shipped experiments are valid, beside their lesson', () => {
    const files = listExperimentFiles()
    expect(files.map((f) => `${f.lesson}/${f.name}`)).toContain('lesson-2/killer-while')
    for (const file of files) {
      const experiment = loadExperiment(file)
      expect(experiment['steady-state-hypothesis'].probes.length).toBeGreaterThan(0)
      expect(experiment.rollbacks.length, file.name).toBeGreaterThan(0)
    }
  })

  it('parses the subset and names the line of each problem', () => {
    expect(parseExperiment(MINIMAL, 'x.yaml').method).toHaveLength(2)
    const bad = MINIMAL.replace('tolerance: 0, ', '').replace('title: T', 'title: T\nsecrets: {}')
    let error: unknown
    try {
      parseExperiment(bad, 'x.yaml')
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(ConfigError)
    const message = (error as ConfigError).message
    expect(message).toMatch(/line 3: unknown key "secrets"/)
    expect(message).toMatch(/line 8: steady-state-hypothesis\.probes\[0\]: a probe of the steady-state hypothesis needs a tolerance/)
  })

  it('splits a string of arguments on spaces (as Chaos Toolkit), keeps a list as words, quotes every word', () => {
    expect(argumentWords('is-active  a b')).toEqual(['is-active', 'a', 'b'])
    expect(argumentWords(['-n', 'it has spaces', 3])).toEqual(['-n', 'it has spaces', '3'])
    const command = processCommand({type: 'process', path: '/opt/x.sh', arguments: ['a b; rm -rf /']}, '/tmp/p.pid')
    expect(command).toContain(`/opt/x.sh 'a b; rm -rf /'`)
    expect(command).toMatch(/^setsid -w bash -c .* timeout 300 /)
  })
})

describe('tolerances (Chaos Toolkit\'s rules for our providers)', () => {
  const process0 = {status: 0, stdout: 'active\nactive\n', stderr: ''}
  it('holds numbers, strings, lists, regexes and ranges against exit codes, statuses, bodies and load figures', () => {
    expect(withinTolerance(0, process0)).toBe(true)
    expect(withinTolerance(0, {...process0, status: 3})).toBe(false)
    expect(withinTolerance(200, {status: 200, body: 'x'})).toBe(true)
    expect(withinTolerance(200, {status: 502, body: 'x'})).toBe(false)
    expect(withinTolerance(0, 0)).toBe(true)
    expect(withinTolerance(0, 12)).toBe(false)
    expect(withinTolerance({type: 'range', range: [0, 5]}, 5)).toBe(true)
    expect(withinTolerance({type: 'range', range: [0, 5]}, 6)).toBe(false)
    expect(withinTolerance({type: 'regex', pattern: '^active$'}, process0)).toBe(true)
    expect(withinTolerance({type: 'regex', pattern: 'Fizz', target: 'body'}, {status: 200, body: '{"result":"FizzBuzz"}'})).toBe(true)
    expect(withinTolerance([200, 201], {status: 201, body: ''})).toBe(true)
    expect(withinTolerance(true, process0)).toBe(true)
    expect(withinTolerance('ok', {status: 0, stdout: 'ok\n', stderr: ''})).toBe(true)
  })
  it('reads curl\'s status line; no answer is status 0', () => {
    expect(parseHttpOutput({code: 0, signal: null, stdout: '{"a":1}\n200', stderr: ''})).toEqual({status: 200, body: '{"a":1}'})
    expect(parseHttpOutput({code: 7, signal: null, stdout: '\n000', stderr: 'refused'}).status).toBe(0)
  })
})

describe('the load generator\'s lines', () => {
  it('per second: counts, and p50/p95 of that second\'s latencies (simple-statistics)', () => {
    const line = parseSamplerLine(JSON.stringify({s: 3, ok: 4, non2xx: 1, failed: 2, lat: [40, 10, 30, 20]}))
    expect(line).toEqual({kind: 'second', second: {t: 3, ok: 4, non2xx: 1, failed: 2, p50: 25, p95: 38.5}})
    expect(parseSamplerLine(JSON.stringify({s: 4, ok: 0, non2xx: 9, failed: 0, lat: []}))).toMatchObject({second: {p50: null, p95: null}})
    expect(parseSamplerLine('{"total": {"ok": 5, "non2xx": 1, "failed": 0}}')).toEqual({kind: 'total', totals: {requests: 6, ok: 5, non2xx: 1, failed: 0}})
    expect(parseSamplerLine('Traceback (most recent call last):').kind).toBe('other')
    // What the errors were: kept per second (junk keys and counts dropped), summed over the run.
    const why = parseSamplerLine(JSON.stringify({s: 5, ok: 1, non2xx: 3, failed: 2, lat: [], why: {'HTTP 502': 3, IncompleteRead: 2, '<bad key>': 1, Zero: 0}}))
    expect(why).toMatchObject({second: {why: {'HTTP 502': 3, IncompleteRead: 2}}})
    expect(parseSamplerLine(JSON.stringify({s: 6, ok: 1, non2xx: 0, failed: 0, lat: [], why: {}}))).not.toHaveProperty('second.why')
    const second = (why as {second: LoadSecond}).second
    expect(whySummary([second, {...second, why: {IncompleteRead: 2, ConnectionRefusedError: 1}}])).toBe('IncompleteRead 4, HTTP 502 3, ConnectionRefusedError 1')
    expect(plainSecond(second)).toMatch(/failed {4}2 .* \(HTTP 502 3, IncompleteRead 2\)$/)
    expect(sumSeconds([{t: 0, ok: 1, non2xx: 2, failed: 3, p50: null, p95: null}, {t: 1, ok: 1, non2xx: 0, failed: 0, p50: 1, p95: 1}])).toEqual({requests: 7, ok: 2, non2xx: 2, failed: 3})
  })
  it('is bounded by timeout and sends its URL as one word', () => {
    const command = samplerCommand({url: 'http://127.0.0.1:8003/api/v1/', concurrency: 10, warmup: 3, maxSeconds: 400, generator: 'sampler' as const}, '/tmp/s.stop')
    expect(command).toMatch(/^timeout 430 python3 -u -c '/)
    expect(command).toMatch(/ http:\/\/127\.0\.0\.1:8003\/api\/v1\/ 10 \/tmp\/s\.stop 400$/)
  })
  it('ab as the generator: the book\'s ab under its wrapper, bounded, with a request cap above ab\'s 50000', () => {
    const spec = {url: 'http://127.0.0.1:8003/api/v1/', concurrency: 10, warmup: 3, maxSeconds: 400, generator: 'ab' as const}
    const command = loadCommand(spec, '/tmp/s.stop')
    expect(command).toBe(abCommand(spec, '/tmp/s.stop'))
    expect(command).toMatch(/^timeout 445 python3 -u -c '/)
    expect(AB_SAMPLER).toMatch(/'stdbuf', '-oL', '-eL', 'ab', '-v', '3', '-r', '-l'/)
    expect(command).toMatch(/ http:\/\/127\.0\.0\.1:8003\/api\/v1\/ 10 \/tmp\/s\.stop 400 2000000$/)
    expect(abRequestCap(30)).toBe(150_000)
    expect(loadCommand({...spec, generator: 'sampler'}, '/tmp/s.stop')).toBe(samplerCommand({...spec, generator: 'sampler'}, '/tmp/s.stop'))
  })
})

function fakeLab(options: {activeAfter?: string; lostOnKill?: boolean} = {}) {
  let killed = false
  const after = options.activeAfter ?? 'active'
  return new FakeSession([
    [/systemctl is-active/, () => ({code: killed && after !== 'active' ? 3 : 0, stdout: killed ? `${after}\n` : 'active\n'})],
    // FakeSession hands each line of stdout to onLine, as the real session does.
    [/k\.sh/, () => {
      if (options.lostOnKill) throw new ConnectionLostError({host: 'h', port: 22, user: 'u', identityFile: '/k', name: 'fake'}, 'the connection closed')
      killed = true
      return {code: 0, stdout: '12:00:00.000 x [1/1]: sent SIGTERM to its main process 42\n'}
    }],
  ])
}

describe('the engine, over a fake session', () => {
  const experiment = parseExperiment(`${MINIMAL}extensions:\n  - {name: chaos-lab, marks: 'sent SIG'}\n`, 'x.yaml')

  it('held: before, method, after, rollbacks, in Chaos Toolkit\'s order and journal shape; exit 0', async () => {
    const session = fakeLab()
    const journal = await runExperiment(experiment, session, {name: 'x', target: 'fake'})
    expect(validate(journal), JSON.stringify(validate.errors)).toBe(true)
    expect(session.commands.map((c) => (/is-active/.test(c) ? 'probe' : /k\.sh/.test(c) ? 'kill' : /systemctl start/.test(c) ? 'rollback' : c))).toEqual(['probe', 'kill', 'probe', 'rollback'])
    expect(journal.status).toBe('completed')
    expect(journal['chaos-lab'].marks).toEqual([{t: expect.any(Number) as number, label: 'x [1/1]: sent SIGTERM to its main process 42'}])
    expect(exitCodeForJournal(journal)).toBe(0)
  })

  it('deviated: the rollbacks still run; exit 1', async () => {
    const journal = await runExperiment(experiment, fakeLab({activeAfter: 'failed'}), {name: 'x', target: 'fake'})
    expect(journal.deviated).toBe(true)
    expect(journal.status).toBe('failed')
    expect(journal.rollbacks.map((r) => r.status)).toEqual(['succeeded'])
    expect(exitCodeForJournal(journal)).toBe(1)
  })

  it('the connection lost in the method: no verdict, the rollbacks are still tried; exit 3', async () => {
    const session = fakeLab({lostOnKill: true})
    const journal = await runExperiment(experiment, session, {name: 'x', target: 'fake'})
    expect(validate(journal), JSON.stringify(validate.errors)).toBe(true)
    expect(journal.status).toBe('aborted')
    expect(journal.steady_states.after).toBeNull()
    expect(session.commands.some((c) => /systemctl start/.test(c))).toBe(true)
    expect(exitCodeForJournal(journal)).toBe(3)
    expect(journal['chaos-lab'].error).toMatch(/connection/)
  })
})

function journalWith(overrides: Partial<Journal>, lab: Partial<Journal['chaos-lab']> = {}): Journal {
  const base: Journal = {
    'chaoslib-version': null, platform: 'linux', node: 'n', experiment: parseExperiment(MINIMAL, 'x.yaml'),
    start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T00:01:00.000Z', duration: 60, status: 'completed', deviated: false,
    steady_states: {before: {steady_state_met: true, probes: []}, after: {steady_state_met: true, probes: []}, during: []}, run: [], rollbacks: [],
    'chaos-lab': {name: 'x', target: 't', hypothesis: {before: 'met', after: 'met'}, summary: 'the hypothesis held', marks: Array.from({length: 12}, (_, i) => ({t: i, label: `k${i}`})),
      load: {url: 'http://127.0.0.1:8003/', concurrency: 10, generator: 'sampler', started: null, seconds: [{t: 0, ok: 5, non2xx: 0, failed: 0, p50: 1, p95: 2}], totals: {requests: 5, ok: 5, non2xx: 0, failed: 0}}},
  }
  return {...base, ...overrides, 'chaos-lab': {...base['chaos-lab'], ...lab}}
}

describe('lesson checks of kind experiment: the journal → pass, fail or error', () => {
  const check = {injected: {marks: 12}, failMessage: 'users noticed'}
  it('held with every kill marked: pass', () => {
    expect(verdictOf(journalWith({}), check)).toMatchObject({status: 'pass', message: expect.stringMatching(/held: 5 requests/) as string})
  })
  it('deviated: fail, with the figures the old check printed', () => {
    const totals = {requests: 9, ok: 5, non2xx: 3, failed: 1}
    const verdict = verdictOf(journalWith({deviated: true, status: 'failed'}, {hypothesis: {before: 'met', after: 'deviated'}, load: {url: 'u', concurrency: 1, generator: 'sampler', started: null, seconds: [], totals}}), check)
    expect(verdict.status).toBe('fail')
    expect(verdict.message).toMatch(/^users noticed \(failed requests: 1 \(expected at most 0\); non-2xx responses: 3 \(expected at most 0\)/)
  })
  it('no fault (nothing marked), the machine not driven, not steady before, a failed rollback: error, never pass', () => {
    expect(verdictOf(journalWith({}, {marks: []}), check)).toMatchObject({status: 'error', message: expect.stringMatching(/fault was not injected.*0 of 12 kills marked/) as string})
    expect(verdictOf(journalWith({status: 'aborted'}, {error: 'lost'}), check).status).toBe('error')
    expect(verdictOf(journalWith({}, {hypothesis: {before: 'deviated', after: 'not-run'}}), check).status).toBe('error')
    const failedRollback = {activity: parseExperiment(MINIMAL, 'x.yaml').rollbacks[0]!, output: null, status: 'failed' as const, start: 's', end: 'e', duration: 1, exception: ['sudo: a password is required']}
    expect(verdictOf(journalWith({rollbacks: [failedRollback]}), check)).toMatchObject({status: 'error', message: expect.stringMatching(/putting the VM back failed/) as string})
  })
})

describe('the chart and the report', () => {
  const seconds = Array.from({length: 30}, (_, t) => ({t, ok: t < 20 ? 30 : 0, non2xx: t < 20 ? 0 : 12, failed: 0, p50: t < 20 ? 10 : null, p95: t < 20 ? 20 : null}))
  it('the text chart marks each kill under its second and fits the width', () => {
    const chart = renderChart(seconds, [{t: 20.4, label: 'faas001_b [1/6]'}], {width: 80, color: false})
    const lines = chart.split('\n')
    const markLine = lines.find((line) => line.trim() === '▲')!
    const axis = lines.find((line) => /[┤┼]/.test(line))!
    expect(markLine.indexOf('▲') - (axis.search(/[┤┼]/) + 1)).toBe(20)
    expect(Math.max(...lines.map((line) => line.length))).toBeLessThanOrEqual(80)
  })
  it('the HTML report escapes what the experiment says', () => {
    const journal = journalWith({experiment: {...parseExperiment(MINIMAL, 'x.yaml'), title: '<script>alert(1)</script>'}}, {marks: [{t: 1, label: '<img src=x onerror=alert(2)>'}]})
    const page = renderExperimentHtml(journal)
    expect(page).not.toMatch(/<script>|<img/)
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
  })
})

describe('lesson-2\'s killer-while check runs on the engine (a fake VM)', () => {
  const lesson = loadLesson('lesson-2')
  const check = lesson.checks.find((c) => c.id === 'killer-while-under-load')!
  const only = {...lesson, checks: [{...check, needs: []}]}
  const sampler = [JSON.stringify({start: 1_700_000_000, concurrency: 10}), ...[0, 1, 2].map((s) => JSON.stringify({s, ok: 20, non2xx: 0, failed: 0, lat: [5, 6]})), JSON.stringify({total: {ok: 60, non2xx: 0, failed: 0}})].join('\n')
  const kills = (n: number) => Array.from({length: n}, (_, i) => `12:00:0${i % 10}.000 faas001_${i < 6 ? 'a' : 'b'} [${(i % 6) + 1}/6]: sent SIGTERM to its main process ${i}`).join('\n')
  const vm = (killerOutput: string) => new FakeSession([
    [/python3 -u -c/, {stdout: `${sampler}\n`}],
    [/systemctl is-active/, {stdout: 'active\nactive\n'}],
    [/curl -sS/, {stdout: '{"result": "FizzBuzz"}\n200'}],
    [/sturdy_killer_while/, {stdout: killerOutput}],
  ])

  it('every kill marked, no error: pass, and the rollbacks ran', async () => {
    const session = vm(`${kills(12)}\n`)
    const outcome = await runLesson(only, session, {target: 'fake', sleep: () => Promise.resolve()})
    expect(outcome.run.checks[0]).toMatchObject({status: 'pass', message: expect.stringMatching(/^the hypothesis held: 60 requests: failed requests: 0, non-2xx responses: 0; 12 kills marked/) as string})
    expect(session.commands.filter((c) => /sudo -n systemctl (reset-failed|start) faas001_a faas001_b/.test(c))).toHaveLength(2)
  })

  it('a killer that killed nothing: error (no fault, no verdict), rollbacks still ran', async () => {
    const session = vm('')
    const outcome = await runLesson(only, session, {target: 'fake', sleep: () => Promise.resolve()})
    expect(outcome.run.checks[0]).toMatchObject({status: 'error', message: expect.stringMatching(/fault was not injected.*0 of 12 kills marked/) as string})
    expect(session.commands.some((c) => /systemctl start faas001_a faas001_b/.test(c))).toBe(true)
  })
})

describe('the live view', () => {
  const events = (view: LiveView) => {
    view.onEvent({type: 'phase', phase: 'method'})
    for (let t = 0; t < 3; t++) view.onEvent({type: 'second', second: {t, ok: 10, non2xx: t, failed: 0, p50: 5, p95: 9}})
    view.onEvent({type: 'mark', mark: {t: 1.2, label: 'faas001_a [1/6]: sent SIGTERM to its main process 7'}})
  }
  it('in a terminal: the chart is redrawn in place (erased, then drawn again) under the step lines', () => {
    let text = ''
    const view = new LiveView({write: (chunk: string) => { text += chunk }, columns: 80}, true, false)
    events(view)
    expect(text).toContain('running the method\n')
    expect(text.match(/\x1b\[\d+A\x1b\[J/g)?.length).toBeGreaterThanOrEqual(3) // eslint-disable-line no-control-regex
    expect(text.split('\x1b[J').at(-1)).toMatch(/▲/)
  })
  it('elsewhere: one plain line per second and per mark, no escapes', () => {
    let text = ''
    const view = new LiveView({write: (chunk: string) => { text += chunk }}, false, false)
    events(view)
    expect(text).not.toContain('\x1b')
    expect(text.split('\n').filter(Boolean)).toEqual([
      'running the method',
      '   0s  ok   10  non-2xx    0  failed    0  p50 5.0 ms  p95 9.0 ms',
      '   1s  ok   10  non-2xx    1  failed    0  p50 5.0 ms  p95 9.0 ms',
      '   2s  ok   10  non-2xx    2  failed    0  p50 5.0 ms  p95 9.0 ms',
      '   1.2s  ▲ faas001_a [1/6]: sent SIGTERM to its main process 7',
    ])
  })
})
