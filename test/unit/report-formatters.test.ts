import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {summarize, type CheckResult, type LessonRun} from '../../src/lessons/result.js'
import {toJsonRun} from '../../src/report/json.js'
import {UsageError} from '../../src/errors.js'
import {escapeXmlAttribute, escapeXmlText, formatJunit, writeJunitFile} from '../../src/report/junit.js'
import {formatTable, summaryLine} from '../../src/report/table.js'
import {toolMissing, updateGolden} from '../helpers/golden.js'

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'report')

/** Compares with test/golden/report/<name>; UPDATE_GOLDEN=1 writes the file instead. */
function expectGolden(name: string, actual: string): void {
  const file = join(GOLDEN, name)
  if (updateGolden()) {
    mkdirSync(dirname(file), {recursive: true})
    writeFileSync(file, actual)
    return
  }
  expect(actual, `golden ${name} (regenerate with UPDATE_GOLDEN=1)`).toBe(readFileSync(file, 'utf8'))
}

const checks: CheckResult[] = [
  {id: 'mystery000-exit-code', title: 'mystery000\'s exit code', status: 'pass', message: 'mystery000_exit_code: 136 is right', hint: '', durationMs: 412},
  {id: 'mystery000-signal', title: 'The signal that kills mystery000', status: 'fail', message: 'mystery000_signal: SIGSEGV (11) is not right', hint: 'An exit code above 128 means a signal killed the program: take 128 away and look the number up with `kill -l`. The message the shell prints when mystery000 dies names it too.', durationMs: 398},
  {id: 'sigterm-exit-code', title: 'The exit code of a process killed with SIGTERM', status: 'fail', message: 'not answered yet', hint: 'Answer sigterm_exit_code in ~/answers/lesson-2.yaml. Run `sleep 3600` in one terminal, `pkill sleep` in another, then `echo $?` in the first.', durationMs: 120},
  {id: 'start-limit-fix-a', title: 'faas001_a restarts however often it is killed (the start-limit fix)', status: 'fail', message: 'systemd still gives up on faas001_a after a few quick restarts (the output "10s" does not match /^0$/)', hint: 'Find the [Unit] setting in `man systemd.unit` & apply it <here>.', durationMs: 87},
  {id: 'killer-while-under-load', title: 'Under load, killer-while causes no failed requests', status: 'blocked', message: 'blocked by start-limit-fix-a', hint: 'First make "faas001_a restarts however often it is killed (the start-limit fix)" pass; this check runs after it.', durationMs: 0},
  {id: 'mystery001-oom-killed', title: 'The kernel log records how mystery001 died', status: 'error', message: 'The SSH connection to chaos-lab was lost: the connection closed "suddenly".', hint: 'Check that the machine is running (chaos-lab status), then run the same command again: it picks up where it stopped.', durationMs: 5003},
]

/** A run with every status, long hints to wrap, and characters XML must escape (& < > " and a control character). */
const MIXED_RUN: LessonRun = {
  lesson: 'lesson-2',
  target: 'chaos@127.0.0.1:2222',
  started: '2026-03-01T10:00:00.000Z',
  finished: '2026-03-01T10:00:12.345Z',
  summary: summarize(checks),
  checks: checks.map((check, i) => (i === 3 ? {...check, message: `${check.message}\u0007`} : check)),
}

const PASSED_RUN: LessonRun = {
  lesson: 'lesson-1',
  target: 'chaos-lab',
  started: '2026-03-01T10:00:00.000Z',
  finished: '2026-03-01T10:01:05.500Z',
  summary: summarize(checks.slice(0, 1)),
  checks: checks.slice(0, 1),
}

describe('table', () => {
  it('matches the golden files', () => {
    expectGolden('table-mixed.txt', formatTable(MIXED_RUN))
    expectGolden('table-passed.txt', formatTable(PASSED_RUN))
    expectGolden('table-narrow.txt', formatTable(MIXED_RUN, {width: 60}))
  })

  it('puts the hint under each check that did not pass, and none under a pass', () => {
    const lines = formatTable(MIXED_RUN).split('\n')
    const pass = lines.findIndex((line) => line.includes('PASS'))
    expect(lines[pass + 1]).toMatch(/^ {2}FAIL/)
    for (const status of ['FAIL', 'BLOCKED', 'ERROR']) {
      const at = lines.findIndex((line) => line.startsWith(`  ${status}`))
      expect(lines.slice(at + 1, at + 6).some((line) => line.trimStart().startsWith('hint: '))).toBe(true)
    }
  })

  it('colours only when asked', () => {
    expect(formatTable(MIXED_RUN)).not.toContain('\u001B[')
    expect(formatTable(MIXED_RUN, {color: true})).toContain('\u001B[')
  })

  it('sums up', () => {
    expect(summaryLine(MIXED_RUN)).toBe('6 checks: 1 passed, 3 failed, 1 blocked, 1 error (12.3 s)')
    expect(summaryLine(PASSED_RUN)).toBe('1 check: all passed (1 min 6 s)')
  })
})

describe('json', () => {
  it('is exactly the LessonRun shape, keys in the documented order', () => {
    const extra = {...MIXED_RUN, internal: true, checks: MIXED_RUN.checks.map((c) => ({...c, secret: 'truth'}))}
    const json = toJsonRun(extra)
    expect(Object.keys(json)).toEqual(['lesson', 'target', 'started', 'finished', 'summary', 'checks'])
    expect(Object.keys(json.summary)).toEqual(['total', 'pass', 'fail', 'blocked', 'error'])
    for (const check of json.checks) expect(Object.keys(check)).toEqual(['id', 'title', 'status', 'message', 'hint', 'durationMs'])
    expectGolden('run.json', `${JSON.stringify(json, null, 2)}\n`)
  })
})

describe('junit', () => {
  it('matches the golden file', () => {
    expectGolden('junit-mixed.xml', formatJunit(MIXED_RUN))
    expectGolden('junit-passed.xml', formatJunit(PASSED_RUN))
  })

  it('counts failures (fail + blocked) and errors as CI servers read them', () => {
    const xml = formatJunit(MIXED_RUN)
    expect(xml).toMatch(/<testsuite name="lesson-2" tests="6" failures="4" errors="1" skipped="0" time="12.345" timestamp="2026-03-01T10:00:00" hostname="chaos@127.0.0.1:2222">/)
    expect(xml.match(/<testcase /g)).toHaveLength(6)
    expect(xml.match(/<failure type="fail"/g)).toHaveLength(3)
    expect(xml.match(/<failure type="blocked"/g)).toHaveLength(1)
    expect(xml.match(/<error type="error"/g)).toHaveLength(1)
    expect(xml).not.toContain('<skipped')
  })

  it('escapes what XML needs escaped and drops what XML forbids', () => {
    expect(escapeXmlText('a & <b> "c"')).toBe('a &amp; &lt;b&gt; "c"')
    expect(escapeXmlAttribute('a & <b> "c" \'d\'\n\te')).toBe('a &amp; &lt;b&gt; &quot;c&quot; &apos;d&apos;&#10;&#9;e')
    expect(escapeXmlText('bell\u0007 nul\u0000 ok\u00e9 \uD83D\uDE00 lone\uD800')).toBe('bell\uFFFD nul\uFFFD ok\u00e9 \uD83D\uDE00 lone\uFFFD')
  })

  it('is well-formed XML (checked by an XML parser when python3 is there)', () => {
    const xml = formatJunit(MIXED_RUN)
    expect(isBalanced(xml)).toBe(true)
    const python = spawnSync('python3', ['-c', 'import sys, xml.dom.minidom as m; d = m.parseString(sys.stdin.buffer.read()); print(len(d.getElementsByTagName("testcase")))'], {input: xml, encoding: 'utf8'})
    if (python.error) {
      toolMissing('python3 (the XML parser)')
      return
    }
    expect(python.stderr).toBe('')
    expect(python.stdout.trim()).toBe('6')
  })
})

describe('writeJunitFile', () => {
  it('writes the JUnit of a run to the file, and a file it cannot write is a usage error naming the path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-lab-junit-'))
    try {
      const file = join(dir, 'results.xml')
      writeJunitFile(file, MIXED_RUN)
      expect(readFileSync(file, 'utf8')).toBe(formatJunit(MIXED_RUN))
      const nowhere = join(dir, 'missing-folder', 'results.xml')
      let thrown: unknown
      try {
        writeJunitFile(nowhere, MIXED_RUN)
      } catch (error) {
        thrown = error
      }
      expect(thrown).toBeInstanceOf(UsageError)
      expect(thrown).toMatchObject({code: 'junit_unwritable', exitCode: 2, suggestion: 'Pass --junit a path in a folder you can write to.'})
      expect((thrown as UsageError).message.startsWith(`Could not write the JUnit report to ${nowhere}: ENOENT`)).toBe(true)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

/** A small well-formedness check: tags nest, every & starts an entity, no raw < in text or attributes. */
function isBalanced(xml: string): boolean {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '')
  if (/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(body)) return false
  const stack: string[] = []
  for (const match of body.matchAll(/<(\/?)([A-Za-z][\w-]*)((?:\s+[\w-]+="[^"<]*")*)\s*(\/?)>|<|>/g)) {
    if (match[0] === '<') return false
    if (match[0] === '>') continue
    const [, closing, name, , selfClosing] = match
    if (selfClosing) continue
    if (closing) { if (stack.pop() !== name) return false } else stack.push(name ?? '')
  }
  return stack.length === 0
}
