/**
 * The experiment engine end to end on this machine: a real bash runs every activity (LocalBashSession), the real
 * load generator (python3) loads a real HTTP server on loopback whose answers an action breaks for a moment.
 * Proves the order (load → before → method → after → rollbacks), the marks, the per-second figures against the
 * generator's totals, the journal against the schema in the repository, and Ctrl-C: rollbacks still run.
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Ajv} from 'ajv'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runExperiment, type ExperimentEvent} from '../../src/experiments/engine.js'
import {exitCodeForJournal, type Journal} from '../../src/experiments/journal.js'
import {sumSeconds, whySummary} from '../../src/experiments/load.js'
import {parseExperiment} from '../../src/experiments/files.js'
import type {LoadGenerator} from '../../src/experiments/schema.js'
import {toolMissing} from '../helpers/golden.js'
import {LocalBashSession} from '../helpers/local-bash-session.js'

const SERVER = String.raw`
import http.server, os, sys
broken = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 502 if os.path.exists(broken) else 200
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b'ok' if code == 200 else b'bad gateway')
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
`

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => { resolve(port) })
    })
  })
}

const schema = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'schemas', 'experiment-journal.schema.json'), 'utf8')) as object
const haveAb = spawnSync('sh', ['-c', 'command -v ab && command -v stdbuf']).status === 0
if (!haveAb) toolMissing('ab (Debian\'s apache2-utils) and stdbuf')
const validate = new Ajv({allErrors: true}).compile(schema)

function experimentYaml(port: number, dir: string, breakSeconds: number, generator: LoadGenerator = 'sampler'): string {
  return `
title: Breaking the server for a moment is invisible
description: A made-up lab on loopback.
steady-state-hypothesis:
  title: the server answers
  probes:
    - {type: probe, name: server-answers, tolerance: 200, provider: {type: http, url: "http://127.0.0.1:${port}/", timeout: 5}}
    - {type: probe, name: a-process, tolerance: 0, provider: {type: process, path: "true"}}
    - {type: probe, name: no-errors, tolerance: 0, provider: {type: load, measure: errors}}
method:
  - type: action
    name: break-it
    provider:
      type: process
      path: bash
      arguments: ["-c", "for i in 1 2; do echo \\"$(date +%T.%3N) victim [$i/2]: sent SIGTERM to its main process 42\\"; sleep 0.5; done; ${breakSeconds > 0 ? `touch ${dir}/broken; sleep ${breakSeconds}; rm -f ${dir}/broken` : 'true'}"]
      timeout: 60
    pauses: {after: 1}
rollbacks:
  - {type: action, name: put-it-back, provider: {type: process, path: bash, arguments: ["-c", "rm -f ${dir}/broken; echo back >> ${dir}/rollbacks"]}}
extensions:
  - name: chaos-lab
    load: {url: "http://127.0.0.1:${port}/", concurrency: 4, warmup: 2, maxSeconds: 60, generator: ${generator}}
    marks: ' sent SIG[A-Z]+ to '
`
}

describe('the experiment engine on this machine (bash + python3 + a loopback server)', () => {
  let dir = ''
  let port = 0
  let server: ChildProcess | undefined

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chaos-lab-experiment-'))
    port = await freePort()
    writeFileSync(join(dir, 'server.py'), SERVER)
    server = spawn('python3', [join(dir, 'server.py'), String(port), join(dir, 'broken')], {stdio: 'ignore'})
    for (let i = 0; i < 50; i++) {
      const up = await fetch(`http://127.0.0.1:${port}/`).then(() => true, () => false)
      if (up) break
      await new Promise((r) => setTimeout(r, 100))
    }
  })

  afterAll(() => {
    if (server?.pid) process.kill(server.pid, 'SIGTERM')
    rmSync(dir, {recursive: true, force: true})
  })

  const run = async (breakSeconds: number, signal?: AbortSignal, onEvent?: (e: ExperimentEvent) => void, generator?: LoadGenerator): Promise<Journal> => {
    rmSync(join(dir, 'rollbacks'), {force: true})
    const experiment = parseExperiment(experimentYaml(port, dir, breakSeconds, generator), 'local.yaml')
    return runExperiment(experiment, new LocalBashSession(), {name: 'local', target: 'local-bash', ...(signal ? {signal} : {}), ...(onEvent ? {onEvent} : {})})
  }

  it('a moment of 502s: the hypothesis deviates, the chart shows when, and the rollbacks ran', async () => {
    const phases: string[] = []
    const journal = await run(2, undefined, (e) => { if (e.type === 'phase') phases.push(e.phase) })
    expect(phases).toEqual(['load', 'before', 'method', 'after', 'rollbacks'])
    expect(validate(journal), JSON.stringify(validate.errors)).toBe(true)
    expect(journal.status).toBe('failed')
    expect(journal.deviated).toBe(true)
    expect(journal['chaos-lab'].hypothesis).toEqual({before: 'met', after: 'deviated'})
    expect(exitCodeForJournal(journal)).toBe(1)
    expect(journal.rollbacks.map((r) => r.status)).toEqual(['succeeded'])
    expect(readFileSync(join(dir, 'rollbacks'), 'utf8')).toBe('back\n')
    const load = journal['chaos-lab'].load!
    // The chart's figures are the generator's: the per-second lines sum to its own totals exactly.
    expect(sumSeconds(load.seconds)).toEqual(load.totals)
    expect(load.totals!.non2xx).toBeGreaterThan(0)
    expect(load.totals!.ok).toBeGreaterThan(0)
    // What the errors were, second by second: the server's 502s, and nothing else.
    expect(whySummary(load.seconds)).toBe(`HTTP 502 ${load.totals!.non2xx}`)
    // The errors fall after the marks (the kills), in the seconds the server was broken.
    const marks = journal['chaos-lab'].marks
    expect(marks.map((m) => m.label)).toEqual(['victim [1/2]: sent SIGTERM to its main process 42', 'victim [2/2]: sent SIGTERM to its main process 42'])
    const firstError = load.seconds.find((s) => s.non2xx > 0)!
    expect(firstError.t).toBeGreaterThanOrEqual(Math.floor(marks[0]!.t))
    expect(load.seconds.filter((s) => s.t < Math.floor(marks[0]!.t)).every((s) => s.non2xx === 0)).toBe(true)
  }, 60_000)

  it('nothing broken: the hypothesis holds (exit 0)', async () => {
    const journal = await run(0)
    expect(validate(journal), JSON.stringify(validate.errors)).toBe(true)
    expect(journal.status).toBe('completed')
    expect(journal.deviated).toBe(false)
    expect(exitCodeForJournal(journal)).toBe(0)
    expect(journal['chaos-lab'].load!.totals!.non2xx + journal['chaos-lab'].load!.totals!.failed).toBe(0)
  }, 60_000)

  it('Ctrl-C in the middle of the method: the action is stopped, the rollbacks run, the status is interrupted', async () => {
    const controller = new AbortController()
    const journal = await run(30, controller.signal, (e) => { if (e.type === 'mark' && e.mark.label.includes('[2/2]')) setTimeout(() => { controller.abort() }, 800) })
    expect(validate(journal), JSON.stringify(validate.errors)).toBe(true)
    expect(journal.status).toBe('interrupted')
    expect(exitCodeForJournal(journal)).toBe(130)
    expect(journal.run[0]?.status).toBe('failed')
    expect(journal.steady_states.after).toBeNull()
    expect(journal.rollbacks.map((r) => r.status)).toEqual(['succeeded'])
    expect(existsSync(join(dir, 'broken'))).toBe(false)
    expect(journal.duration).toBeLessThan(25)
  }, 60_000)

  it.skipIf(!haveAb)('the book\'s ab as the generator: the chart\'s seconds agree with ab\'s own summary, within one request per client', async () => {
    const journal = await run(2, undefined, undefined, 'ab')
    expect(validate(journal), JSON.stringify(validate.errors)).toBe(true)
    expect(journal.deviated).toBe(true)
    const load = journal['chaos-lab'].load!
    expect(load.generator).toBe('ab')
    // totals is ab's own summary (Complete requests, Non-2xx responses, Failed requests); the seconds are ab's
    // per-answer lines. They count one run twice: they may differ by the requests in flight when ab was
    // stopped, at most one per client (concurrency 4).
    const chart = sumSeconds(load.seconds)
    const ab = load.totals!
    console.log(`ab as the generator: the chart ${JSON.stringify(chart)}, ab's summary ${JSON.stringify(ab)}`)
    for (const key of ['requests', 'ok', 'non2xx', 'failed'] as const) expect(Math.abs(chart[key] - ab[key]), key).toBeLessThanOrEqual(load.concurrency)
    expect(ab.non2xx).toBeGreaterThan(0)
    expect(ab.ok).toBeGreaterThan(0)
    expect(whySummary(load.seconds)).toBe(`HTTP 502 ${chart.non2xx}`)
    // The hypothesis after judged ab's figures, as the reader judges ab's output.
    const after = journal.steady_states.after!.probes.find((p) => p.activity.type === 'probe' && p.activity.name === 'no-errors')
    expect(after?.output).toBe(ab.non2xx + ab.failed)
  }, 90_000)
})
