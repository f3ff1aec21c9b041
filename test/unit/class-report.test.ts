import {mkdtemp, readFile, readdir, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {summarize, type CheckResult, type CheckStatus, type LessonRun} from '../../src/lessons/result.js'
import {safeFileNames, writeClassReport, type ClassRun} from '../../src/report/class-report.js'
import {csvField} from '../../src/report/csv.js'

const STARTED = '2025-03-04T09:00:00.000Z'
const FINISHED = '2025-03-04T09:00:42.500Z'

function check(id: string, status: CheckStatus, hint = status === 'pass' ? '' : `look at ${id} again`): CheckResult {
  return {id, title: `Title of ${id}`, status, message: `${id} is ${status}`, hint, durationMs: 250}
}

function lessonRun(host: string, checks: CheckResult[]): LessonRun {
  return {lesson: 'lesson-2', target: `chaos@${host}:22`, started: STARTED, finished: '2025-03-04T09:00:03.000Z', summary: summarize(checks), checks}
}

function classRun(): ClassRun {
  return {
    lesson: 'lesson-2',
    started: STARTED,
    finished: FINISHED,
    hosts: [
      {host: 'learner01', status: 'ok', result: lessonRun('learner01', [check('answers', 'pass'), check('restart', 'pass'), check('nginx', 'pass')])},
      {host: 'learner02', status: 'ok', result: lessonRun('learner02', [check('answers', 'pass'), check('restart', 'fail'), check('nginx', 'blocked')])},
      {host: 'learner03', status: 'unreachable', error: {code: 'unreachable', message: 'connect ECONNREFUSED 192.0.2.13:22'}},
      {host: 'learner04', status: 'error', error: {code: 'connection_lost', message: 'The SSH connection to learner04 was lost'}, result: lessonRun('learner04', [check('answers', 'pass'), check('restart', 'error')])},
    ],
  }
}

const HOSTILE_HOST = '<script>alert(1)</script>"\'&'
const HOSTILE_HINT = '</td><img src=x onerror=alert(1)> "quoted" & \'single\''

function hostileRun(): ClassRun {
  const run = classRun()
  run.hosts.push({host: HOSTILE_HOST, status: 'ok', result: lessonRun('evil', [check('answers', 'fail', HOSTILE_HINT), check('restart', 'pass'), check('nginx', 'pass')])})
  return run
}

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chaos-lab-report-'))
})
afterEach(async () => {
  await rm(dir, {recursive: true, force: true})
})

describe('writeClassReport', () => {
  it('writes one JSON per host, the CSV matrix, JUnit and the HTML page, and lists them', async () => {
    const {files} = await writeClassReport(dir, classRun())
    expect(files).toEqual([
      join(dir, 'hosts', 'learner01.json'),
      join(dir, 'hosts', 'learner02.json'),
      join(dir, 'hosts', 'learner03.json'),
      join(dir, 'hosts', 'learner04.json'),
      join(dir, 'matrix.csv'),
      join(dir, 'junit.xml'),
      join(dir, 'report.html'),
    ])
    expect((await readdir(dir)).sort()).toEqual(['hosts', 'junit.xml', 'matrix.csv', 'report.html'])
    const learner03 = JSON.parse(await readFile(join(dir, 'hosts', 'learner03.json'), 'utf8')) as unknown
    expect(learner03).toEqual({lesson: 'lesson-2', host: 'learner03', status: 'unreachable', error: {code: 'unreachable', message: 'connect ECONNREFUSED 192.0.2.13:22'}})
    const learner02 = JSON.parse(await readFile(join(dir, 'hosts', 'learner02.json'), 'utf8')) as {run: LessonRun}
    expect(learner02.run.checks.map((c) => c.status)).toEqual(['pass', 'fail', 'blocked'])
  })

  it('writes the CSV matrix: host, status, passed, total, then a column per check', async () => {
    await writeClassReport(dir, classRun())
    expect(await readFile(join(dir, 'matrix.csv'), 'utf8')).toBe([
      'host,status,passed,total,answers,restart,nginx',
      'learner01,checked,3,3,pass,pass,pass',
      'learner02,checked,1,3,pass,fail,blocked',
      'learner03,unreachable,0,3,unreachable,unreachable,unreachable',
      // Lost mid-run: the checks that ran keep their status, the rest are errors.
      'learner04,error,1,3,pass,error,error',
      '',
    ].join('\r\n'))
  })

  it('quotes CSV fields and keeps text that looks like a formula as text', () => {
    expect(csvField('plain')).toBe('plain')
    expect(csvField('a,b')).toBe('"a,b"')
    expect(csvField('say "hi"')).toBe('"say ""hi"""')
    expect(csvField('two\nlines')).toBe('"two\nlines"')
    expect(csvField('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"')
    expect(csvField('@sum')).toBe("'@sum")
    expect(csvField(3)).toBe('3')
  })

  it('writes JUnit: a testsuite per host, a testcase per check, one <error> for an unreachable host', async () => {
    await writeClassReport(dir, classRun())
    const xml = await readFile(join(dir, 'junit.xml'), 'utf8')
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="chaos-lab check lesson-2" tests="10" failures="2" errors="3" skipped="0" time="42.500" timestamp="2025-03-04T09:00:00"')).toBe(true)
    expect(xml).toContain('<testsuite name="learner01" hostname="learner01" tests="3" failures="0" errors="0" skipped="0" time="3.000"')
    expect(xml).toContain('<testcase classname="chaos-lab.lesson-2.learner01" name="answers: Title of answers" time="0.250"/>')
    expect(xml).toContain('<failure type="fail" message="restart is fail">restart is fail\nHint: look at restart again</failure>')
    // Blocked is work left to do: a failure, as in the single-host JUnit.
    expect(xml).toContain('<failure type="blocked" message="nginx is blocked">nginx is blocked\nHint: look at nginx again</failure>')
    expect(xml).toMatch(/<testsuite name="learner02" hostname="learner02" tests="3" failures="2" errors="0" skipped="0"/)
    const unreachable = /<testsuite name="learner03"[^>]*>([\s\S]*?)<\/testsuite>/.exec(xml)
    expect(unreachable?.[0]).toMatch(/tests="1" failures="0" errors="1" skipped="0"/)
    expect(unreachable?.[1]).toBe('\n    <testcase classname="chaos-lab.lesson-2.learner03" name="connect" time="0.000">\n      <error type="unreachable" message="connect ECONNREFUSED 192.0.2.13:22">connect ECONNREFUSED 192.0.2.13:22</error>\n    </testcase>\n  ')
    // The host lost mid-run: its two checks, then the error that stopped it.
    expect(xml).toMatch(/<testsuite name="learner04"[^>]*tests="3" failures="0" errors="2" skipped="0"/)
    expect(xml).toContain('<error type="connection_lost" message="The SSH connection to learner04 was lost">')
    expect(xml.match(/<testsuite /g)).toHaveLength(4)
  })

  it('escapes JUnit text and drops characters XML cannot carry', async () => {
    const run = hostileRun()
    const failing = run.hosts[1]?.result?.checks[1]
    if (!failing) throw new Error('the fixture lost its failing check')
    failing.message = 'bell\u0007 and escape\u001b[31m'
    await writeClassReport(dir, run)
    const xml = await readFile(join(dir, 'junit.xml'), 'utf8')
    expect(xml).toContain('<testsuite name="&lt;script&gt;alert(1)&lt;/script&gt;&quot;&apos;&amp;"')
    expect(xml).toContain('Hint: &lt;/td&gt;&lt;img src=x onerror=alert(1)&gt; "quoted" &amp; \'single\'</failure>')
    expect(xml).toContain('message="bell\uFFFD and escape\uFFFD[31m"')
    // eslint-disable-next-line no-control-regex
    expect(xml).not.toMatch(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/)
    expect(xml).not.toContain('<script>')
  })

  it('writes the HTML matrix with colours, a legend, per-host and per-check pass counts, and hints on hover', async () => {
    await writeClassReport(dir, classRun())
    const page = await readFile(join(dir, 'report.html'), 'utf8')
    for (const status of ['pass', 'fail', 'blocked', 'error', 'unreachable']) {
      expect(page).toMatch(new RegExp(`\\.${status} \\{ background: var\\(--${status}\\); \\}`))
      expect(page).toContain(`<li><span class="badge ${status}">${status}</span>`)
    }
    expect(page).toContain('<td class="cell fail" data-host="learner02" data-check="restart" data-status="fail" title="restart: Title of restart\nfail: restart is fail\nHint: look at restart again">fail</td>')
    expect(page).toContain('<tr class="host-row row-unreachable" data-host="learner03" data-status="unreachable">')
    expect(page).toContain('<td class="cell unreachable" data-host="learner03" data-check="nginx" data-status="unreachable" title="nginx: Title of nginx\nunreachable: connect ECONNREFUSED 192.0.2.13:22">unreachable</td>')
    expect(page).toMatch(/<td class="count all-passed" data-passed="3" data-total="3"[^>]*>3\/3<\/td>/)
    expect(page).toMatch(/<td class="count" data-passed="1" data-total="3"[^>]*>1\/3<\/td>/)
    // Per check: answers passes on 3 of 4 hosts, nginx on 1.
    expect(page).toMatch(/<td class="count" data-check="answers" data-passed="3" title="3 of 4 hosts pass answers">3\/4<\/td>/)
    expect(page).toMatch(/<td class="count" data-check="nginx" data-passed="1"[^>]*>1\/4<\/td>/)
    expect(page).toContain('4 hosts: 1 all passed · 1 with work to do · 1 unreachable · 1 with errors')
    // The messages are on the page too, not only on hover.
    expect(page).toContain('<code>restart</code> Title of restart: restart is fail<br><span class="hint">Hint: look at restart again</span>')
  })

  it('is self-contained: inline CSS, no scripts, no links, no external resources', async () => {
    await writeClassReport(dir, classRun())
    const page = await readFile(join(dir, 'report.html'), 'utf8')
    expect(page).toMatch(/^<!doctype html>\n<html lang="en">/)
    expect(page).toContain('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">')
    expect(page).not.toMatch(/<script|<link|<img|<iframe|<object|src=|href=|url\(|@import|https?:\/\//i)
  })

  it('escapes hostile host names, messages and hints so they cannot add markup', async () => {
    await writeClassReport(dir, hostileRun())
    const page = await readFile(join(dir, 'report.html'), 'utf8')
    expect(page).not.toContain('<script>')
    expect(page).not.toContain('<img')
    expect(page).toContain('<th scope="row" title="2 of 3 checks pass">&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;</th>')
    expect(page).toContain('data-host="&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"')
    expect(page).toContain('Hint: &lt;/td&gt;&lt;img src=x onerror=alert(1)&gt; &quot;quoted&quot; &amp; &#39;single&#39;')
    // Every element the page has is one the template wrote.
    const tags = new Set([...page.matchAll(/<([a-zA-Z][a-zA-Z0-9]*)/g)].map((m) => (m[1] ?? '').toLowerCase()))
    expect([...tags].sort()).toEqual(['body', 'br', 'code', 'details', 'div', 'h1', 'h2', 'head', 'html', 'li', 'meta', 'ol', 'p', 'section', 'span', 'style', 'summary', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'time', 'title', 'tr', 'ul'])
  })

  it('keeps host files inside hosts/ whatever the host is called', async () => {
    const run = classRun()
    run.hosts = [
      {host: '../../etc/passwd', status: 'unreachable'},
      {host: 'Learner01', status: 'unreachable'},
      {host: 'learner01', status: 'unreachable'},
      {host: HOSTILE_HOST, status: 'unreachable'},
    ]
    const {files} = await writeClassReport(dir, run)
    expect(await readdir(join(dir, 'hosts'))).toHaveLength(4)
    expect(files.slice(0, 4)).toEqual([
      join(dir, 'hosts', '_._.._etc_passwd.json'),
      join(dir, 'hosts', 'Learner01.json'),
      join(dir, 'hosts', 'learner01-2.json'),
      join(dir, 'hosts', '_script_alert_1___script____.json'),
    ])
    expect(safeFileNames(['', 'CON', 'nul.txt', '.hidden'])).toEqual(['_', '_CON', '_nul.txt', '_hidden'])
  })
})
