import {cp, mkdir, mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Journal, LoadSecond, Mark} from '../../src/experiments/journal.js'
import {loadLessonExperiment} from '../../src/experiments/files.js'
import {writeExperimentReport} from '../../src/report/experiment-html.js'
import {findChromium, runBounded} from '../helpers/chromium.js'
import {decodePng, type Image} from '../helpers/png.js'

/**
 * `chaos-lab experiment run --report DIR`'s page in headless Chromium: a screenshot (kept with
 * CHAOS_LAB_TEST_ARTIFACTS=DIR) with the chart's colours on it, and the DOM as Chromium parsed it: the four
 * series, a line per mark in both charts, the chart's totals beside the generator's, the verdict. The journal is
 * a made-up killer-while run before the fix (B's kills leave both instances down from second 40 on).
 * Skipped without chromium, except under CI=true, where a missing browser fails the test.
 */

const IN_CI = process.env.CI === 'true'
const RUN_TIMEOUT_MS = 60_000

const seconds: LoadSecond[] = Array.from({length: 70}, (_, t) => {
  const down = t >= 40 && t < 62
  return {t, ok: down ? 0 : 30 + (t % 5), non2xx: down ? 18 : 0, failed: t === 21 ? 1 : 0, p50: down ? null : 250 + t, p95: down ? null : 600 + 2 * t}
})
const marks: Mark[] = [
  ...Array.from({length: 6}, (_, i) => ({t: 20 + 1.3 * i, label: `faas001_a [${i + 1}/6]: sent SIGTERM to its main process ${100 + i}`})),
  ...Array.from({length: 6}, (_, i) => ({t: 40 + 1.3 * i, label: `faas001_b [${i + 1}/6]: sent SIGTERM to its main process ${200 + i}`})),
]
const totals = seconds.reduce((sum, s) => ({requests: sum.requests + s.ok + s.non2xx + s.failed, ok: sum.ok + s.ok, non2xx: sum.non2xx + s.non2xx, failed: sum.failed + s.failed}), {requests: 0, ok: 0, non2xx: 0, failed: 0})

function journal(): Journal {
  const experiment = loadLessonExperiment('lesson-2', 'killer-while')
  const probe = (name: string, met: boolean, output: unknown) => ({
    activity: experiment['steady-state-hypothesis'].probes.find((p) => p.name === name)!, output, status: 'succeeded' as const,
    start: '2026-01-01T00:00:03.000Z', end: '2026-01-01T00:00:04.000Z', duration: 1, tolerance_met: met,
  })
  return {
    'chaoslib-version': null, platform: 'linux', node: 'test', experiment,
    start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T00:01:20.000Z', duration: 80, status: 'failed', deviated: true,
    steady_states: {
      before: {steady_state_met: true, probes: [probe('both-instances-are-active', true, {status: 0, stdout: 'active\nactive\n', stderr: ''}), probe('no-request-failed-or-erred', true, 0)]},
      after: {steady_state_met: false, probes: [probe('both-instances-are-active', false, {status: 3, stdout: 'failed\nfailed\n', stderr: ''}), probe('no-request-failed-or-erred', false, totals.non2xx + totals.failed)]},
      during: [],
    },
    run: [{activity: experiment.method[0]!, output: {status: 1, stdout: '', stderr: ''}, status: 'failed', start: '2026-01-01T00:00:05.000Z', end: '2026-01-01T00:01:05.000Z', duration: 60, exception: ['exit code 1']}],
    rollbacks: experiment.rollbacks.map((activity) => ({activity, output: {status: 0, stdout: '', stderr: ''}, status: 'succeeded' as const, start: '2026-01-01T00:01:10.000Z', end: '2026-01-01T00:01:12.000Z', duration: 2})),
    'chaos-lab': {name: 'killer-while', target: 'chaos@127.0.0.1:2222', hypothesis: {before: 'met', after: 'deviated'}, summary: 'the hypothesis deviated: the steady state was not met after the method; rollbacks ran (2)',
      load: {url: 'http://127.0.0.1:8003/api/v1/', concurrency: 10, generator: 'sampler', started: '2026-01-01T00:00:00.000Z', seconds, totals}, marks},
  }
}

function countColour(image: Image, hex: string): number {
  const [r, g, b] = [1, 3, 5].map((start) => parseInt(hex.slice(start, start + 2), 16)) as [number, number, number]
  let count = 0
  for (let i = 0; i < image.pixels.length; i += image.channels) {
    const near = (value: number | undefined, target: number) => Math.abs((value ?? -99) - target) <= 12
    if (near(image.pixels[i], r) && near(image.pixels[i + 1], g) && near(image.pixels[i + 2], b)) count++
  }
  return count
}

const chromium = findChromium()

describe('the experiment report in headless Chromium', () => {
  let work = ''
  let page = ''

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'chaos-lab-experiment-report-'))
    const files = writeExperimentReport(join(work, 'report'), journal())
    page = files[0] ?? ''
  })

  afterAll(async () => {
    const keep = process.env.CHAOS_LAB_TEST_ARTIFACTS
    if (keep && work) {
      await mkdir(keep, {recursive: true})
      await cp(work, resolve(keep, 'experiment-report'), {recursive: true, filter: (source) => !source.includes('profile-')})
    }
    if (work) await rm(work, {recursive: true, force: true})
  })

  const browserArgs = async (extra: string[]) => {
    const profile = await mkdtemp(join(work, 'profile-'))
    return ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--window-size=1280,1000', ...extra, pathToFileURL(page).href]
  }

  it.skipIf(!chromium && !IN_CI)('draws the chart over time (screenshot) with every series and mark in the DOM', async () => {
    if (!chromium) throw new Error('chromium is not on PATH, and CI=true requires this test: apt-get install -y chromium fonts-liberation')
    const screenshot = join(work, 'experiment-report.png')
    const shot = await runBounded(chromium, await browserArgs([`--screenshot=${screenshot}`]), RUN_TIMEOUT_MS)
    expect(shot.code, shot.stderr.slice(-2000)).toBe(0)
    const image = decodePng(await readFile(screenshot))
    expect([image.width, image.height]).toEqual([1280, 1000])
    expect(countColour(image, '#1a7f37'), 'successful requests (green)').toBeGreaterThan(300)
    expect(countColour(image, '#cf222e'), 'errors (red)').toBeGreaterThan(200)
    expect(countColour(image, '#0969da'), 'p50 (blue)').toBeGreaterThan(100)

    const dump = await runBounded(chromium, await browserArgs(['--dump-dom']), RUN_TIMEOUT_MS)
    expect(dump.code, dump.stderr.slice(-2000)).toBe(0)
    const dom = dump.stdout
    expect(dom).toMatch(/<body data-status="failed" data-deviated="true">/)
    for (const series of ['ok', 'errors', 'p50', 'p95']) {
      const points = new RegExp(`<polyline data-series="${series}"[^>]*points="([^"]+)"`).exec(dom)?.[1] ?? ''
      expect(points.trim().split(' '), series).toHaveLength(70)
    }
    expect([...dom.matchAll(/<line class="mark" data-t="([\d.]+)"/g)].map((m) => Number(m[1]))).toEqual([...marks, ...marks].map((m) => m.t))
    expect(dom).toMatch(new RegExp(`data-totals="chart"><td>[^<]+</td><td class="num">${totals.requests}</td>`))
    expect(dom).toMatch(new RegExp(`data-totals="generator"><td>[^<]+</td><td class="num">${totals.requests}</td>`))
    expect(dom).toContain('hypothesis deviated')
    expect(dom).toMatch(/data-activity="start-both-instances" data-status="succeeded"/)
  }, 3 * RUN_TIMEOUT_MS)
})
