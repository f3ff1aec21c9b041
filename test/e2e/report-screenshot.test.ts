import {cp, mkdir, mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {summarize, type CheckResult, type CheckStatus, type LessonRun} from '../../src/lessons/result.js'
import {writeClassReport, type ClassRun} from '../../src/report/class-report.js'
import {findChromium, runBounded} from '../helpers/chromium.js'
import {decodePng, type Image} from '../helpers/png.js'

/**
 * Opens the class report in headless Chromium (Debian's `chromium` package): a screenshot, and the DOM as
 * Chromium parsed it, to assert the matrix cells a person sees.
 *
 * Skipped when chromium is not installed, except in CI (CI=true), where a missing browser fails the test.
 * CHROMIUM_BIN picks another binary; CHAOS_LAB_TEST_ARTIFACTS=DIR keeps the report and the screenshot.
 */

const IN_CI = process.env.CI === 'true'
const RUN_TIMEOUT_MS = 60_000

// ---------------------------------------------------------------------------------------------------------------
// A made-up class of four: one done, one with work to do, one unreachable, one with a hostile hint and an error.

const CHECKS: [string, string][] = [
  ['answer-sheet', 'The answer sheet exists'],
  ['mystery-exit-code', 'The exit code of mystery000 is recorded'],
  ['nginx-restarts', 'nginx comes back after it is killed'],
  ['start-limit', 'The unit survives its start limit'],
  ['chapter-folder', 'The chapter folder is intact'],
]
const HOSTILE_HINT = '<img src=x onerror=alert(1)><script>alert(2)</script>'

function lessonRun(host: string, statuses: CheckStatus[], hint = 'Read the unit file again.'): LessonRun {
  const checks = CHECKS.map(([id, title], index): CheckResult => {
    const status = statuses[index] ?? 'pass'
    return {id, title, status, message: status === 'pass' ? `${title}.` : `${title}: not yet (${status}).`, hint: status === 'pass' ? '' : hint, durationMs: 180 + index}
  })
  return {lesson: 'lesson-2', target: `chaos@${host}:22`, started: '2025-03-04T09:00:01.000Z', finished: '2025-03-04T09:00:04.000Z', summary: summarize(checks), checks}
}

const CLASS: ClassRun = {
  lesson: 'lesson-2',
  started: '2025-03-04T09:00:00.000Z',
  finished: '2025-03-04T09:00:09.000Z',
  hosts: [
    {host: 'learner01', status: 'ok', result: lessonRun('learner01', ['pass', 'pass', 'pass', 'pass', 'pass'])},
    {host: 'learner02', status: 'ok', result: lessonRun('learner02', ['pass', 'fail', 'blocked', 'blocked', 'pass'])},
    {host: 'learner03', status: 'unreachable', error: {code: 'unreachable', message: 'connect ECONNREFUSED 192.0.2.13:22'}},
    {host: 'learner04', status: 'ok', result: lessonRun('learner04', ['pass', 'pass', 'fail', 'error', 'pass'], HOSTILE_HINT)},
  ],
}

// ---------------------------------------------------------------------------------------------------------------
// Pixels of the screenshot: test/helpers/png.ts.

function countColour(image: Image, hex: string): number {
  const [r, g, b] = [1, 3, 5].map((start) => parseInt(hex.slice(start, start + 2), 16)) as [number, number, number]
  let count = 0
  for (let i = 0; i < image.pixels.length; i += image.channels) {
    const near = (value: number | undefined, target: number) => Math.abs((value ?? -99) - target) <= 3
    if (near(image.pixels[i], r) && near(image.pixels[i + 1], g) && near(image.pixels[i + 2], b)) count++
  }
  return count
}

// ---------------------------------------------------------------------------------------------------------------
// The DOM as Chromium serialised it: the matrix cells and rows with their attributes.

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [, name, value] of tag.matchAll(/([a-zA-Z-]+)="([^"]*)"/g)) if (name !== undefined) out[name] = value ?? ''
  return out
}

// ---------------------------------------------------------------------------------------------------------------

const chromium = findChromium()

describe('the class report in headless Chromium', () => {
  let work = ''
  let reportFile = ''

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'chaos-lab-report-e2e-'))
    await writeClassReport(join(work, 'report'), CLASS)
    reportFile = join(work, 'report', 'report.html')
  })

  afterAll(async () => {
    const keep = process.env.CHAOS_LAB_TEST_ARTIFACTS
    if (keep && work) {
      await mkdir(keep, {recursive: true})
      await cp(work, resolve(keep, 'report-screenshot'), {recursive: true, filter: (source) => !source.includes('profile-')})
    }
    if (work) await rm(work, {recursive: true, force: true})
  })

  const browserArgs = async (extra: string[]) => {
    const profile = await mkdtemp(join(work, 'profile-'))
    return [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--user-data-dir=${profile}`, '--window-size=1280,800',
      ...extra,
      pathToFileURL(reportFile).href,
    ]
  }

  it.skipIf(!chromium && !IN_CI)('shows the matrix: a screenshot with the status colours, and the cells in the DOM', async () => {
    if (!chromium) {
      const where = process.env.CHROMIUM_BIN ? `CHROMIUM_BIN=${process.env.CHROMIUM_BIN} is not an executable file` : 'chromium is not on PATH'
      throw new Error(`${where}, and CI=true requires this test: apt-get install -y chromium fonts-liberation`)
    }

    // 1. The screenshot: a real 1280×800 PNG with the pass, fail and unreachable colours on it.
    const screenshot = join(work, 'report.png')
    const shot = await runBounded(chromium, await browserArgs([`--screenshot=${screenshot}`]), RUN_TIMEOUT_MS)
    expect(shot.code, shot.stderr.slice(-2000)).toBe(0)
    const image = decodePng(await readFile(screenshot))
    expect([image.width, image.height]).toEqual([1280, 800])
    expect(countColour(image, '#1a7f37'), 'pass (green) pixels').toBeGreaterThan(500)
    expect(countColour(image, '#cf222e'), 'fail (red) pixels').toBeGreaterThan(500)
    expect(countColour(image, '#6e7781'), 'unreachable (grey) pixels').toBeGreaterThan(500)
    expect(countColour(image, '#9a6700'), 'blocked (amber) pixels').toBeGreaterThan(200)

    // 2. The DOM as Chromium parsed it.
    const dump = await runBounded(chromium, await browserArgs(['--dump-dom']), RUN_TIMEOUT_MS)
    expect(dump.code, dump.stderr.slice(-2000)).toBe(0)
    const dom = dump.stdout
    expect(dom).toContain('<table class="matrix">')

    const cells = new Map<string, Record<string, string>>()
    for (const [tag] of dom.matchAll(/<td\b[^>]*\bdata-status="[^"]*"[^>]*>/g)) {
      const attrs = attributes(tag)
      cells.set(`${attrs['data-host'] ?? ''}/${attrs['data-check'] ?? ''}`, attrs)
    }
    expect(cells.size).toBe(4 * CHECKS.length)
    const cell = (host: string, check: string) => cells.get(`${host}/${check}`) ?? {}
    expect(cell('learner02', 'mystery-exit-code')).toMatchObject({class: 'cell fail', 'data-status': 'fail'})
    expect(cell('learner02', 'nginx-restarts')).toMatchObject({class: 'cell blocked', 'data-status': 'blocked'})
    expect(cell('learner04', 'start-limit')).toMatchObject({class: 'cell error', 'data-status': 'error'})
    for (const [id] of CHECKS) {
      expect(cell('learner01', id)['data-status']).toBe('pass')
      expect(cell('learner03', id)).toMatchObject({class: 'cell unreachable', 'data-status': 'unreachable'})
    }
    // The fail cell carries the finding and the hint on hover.
    expect(cell('learner02', 'mystery-exit-code').title).toContain('Hint: Read the unit file again.')

    const rows = [...dom.matchAll(/<tr\b[^>]*\bclass="host-row[^"]*"[^>]*>/g)].map(([tag]) => attributes(tag))
    expect(rows.map((row) => [row['data-host'], row['data-status']])).toEqual([
      ['learner01', 'checked'], ['learner02', 'checked'], ['learner03', 'unreachable'], ['learner04', 'checked'],
    ])
    expect(rows[2]?.class).toBe('host-row row-unreachable')

    // Per-host and per-check pass counts as shown.
    expect(dom).toMatch(/data-passed="5" data-total="5"[^>]*>5\/5</)
    expect(dom).toMatch(/data-passed="0" data-total="5"[^>]*>0\/5</)
    expect(dom).toMatch(/data-check="answer-sheet" data-passed="3"[^>]*>3\/4</)

    // The hostile hint stayed text: Chromium built no <img> or <script> element from it.
    expect(dom).not.toMatch(/<img|<script/i)
    expect(dom).toContain('&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;')
  }, 3 * RUN_TIMEOUT_MS)
})
