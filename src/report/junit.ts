import {writeFileSync} from 'node:fs'

import {UsageError, errorMessage} from '../errors.js'
import type {CheckResult, LessonRun} from '../lessons/result.js'
import type {ClassRun} from './matrix.js'

/**
 * JUnit XML as CI servers read it (Jenkins, GitLab, GitHub test reporters). One writer, `renderJunit`, for both
 * reports: `chaos-lab check --junit FILE` (one <testsuite> per lesson, `formatJunit`) and the class report (one
 * <testsuite> per host, `formatClassJunit`). A check is a <testcase>; a failed check a <failure type="fail">, a
 * blocked one a <failure type="blocked"> (not <skipped>: CI would call a skipped test fine, and a blocked check is
 * work left to do); a check that could not run an <error>.
 */

// ---------------------------------------------------------------------------------------------------------------
// XML

// Characters XML 1.0 does not allow at all, even escaped (control characters other than tab, LF, CR; lone
// surrogates; U+FFFE/U+FFFF).
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** Text content: & < > escaped; characters XML cannot carry become U+FFFD. */
export function escapeXmlText(text: string): string {
  return text.replace(FORBIDDEN, '\uFFFD').replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}

/** An attribute value: as text, and quotes and the whitespace a parser would fold kept as references. */
export function escapeXmlAttribute(text: string): string {
  return escapeXmlText(text)
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;')
    .replaceAll('\t', '&#9;')
    .replaceAll('\n', '&#10;')
    .replaceAll('\r', '&#13;')
}

/** Attributes in the order given (CI servers do not care; our golden files and tests do). */
export type XmlAttributes = [name: string, value: string | number][]

const attrs = (values: XmlAttributes): string =>
  values.map(([name, value]) => ` ${name}="${escapeXmlAttribute(String(value))}"`).join('')

// ---------------------------------------------------------------------------------------------------------------
// The writer

export interface JunitCase {
  attributes: XmlAttributes
  /** A <failure> or an <error> inside the testcase; none for a pass. */
  problem?: {element: 'failure' | 'error'; type: string; message: string; text: string}
}

export interface JunitSuite {
  /** Attributes before the counts (name, …) and after them (time, timestamp, …). */
  head: XmlAttributes
  tail: XmlAttributes
  properties?: XmlAttributes
  cases: JunitCase[]
}

interface Counts {
  tests: number
  failures: number
  errors: number
  skipped: number
}

function countsOf(cases: readonly JunitCase[]): Counts {
  return {
    tests: cases.length,
    failures: cases.filter((c) => c.problem?.element === 'failure').length,
    errors: cases.filter((c) => c.problem?.element === 'error').length,
    skipped: 0,
  }
}

const countAttributes = (counts: Counts): XmlAttributes =>
  [['tests', counts.tests], ['failures', counts.failures], ['errors', counts.errors], ['skipped', counts.skipped]]

function renderCase({attributes, problem}: JunitCase): string {
  const open = `    <testcase${attrs(attributes)}`
  if (!problem) return `${open}/>`
  const {element, type, message, text} = problem
  return `${open}>\n      <${element}${attrs([['type', type], ['message', message]])}>${escapeXmlText(text)}</${element}>\n    </testcase>`
}

function renderSuite(suite: JunitSuite): string {
  const properties = suite.properties
    ? ['    <properties>', ...suite.properties.map(([name, value]) => `      <property${attrs([['name', name], ['value', value]])}/>`), '    </properties>']
    : []
  return [
    `  <testsuite${attrs([...suite.head, ...countAttributes(countsOf(suite.cases)), ...suite.tail])}>`,
    ...properties,
    ...suite.cases.map(renderCase),
    '  </testsuite>',
  ].join('\n')
}

/** A JUnit document: <testsuites> (its counts the sum of its suites') around the suites. */
export function renderJunit(document: {head: XmlAttributes; tail: XmlAttributes; suites: JunitSuite[]}): string {
  const totals: Counts = {tests: 0, failures: 0, errors: 0, skipped: 0}
  for (const suite of document.suites) {
    const counts = countsOf(suite.cases)
    for (const key of Object.keys(totals) as (keyof Counts)[]) totals[key] += counts[key]
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs([...document.head, ...countAttributes(totals), ...document.tail])}>`,
    ...document.suites.map(renderSuite),
    '</testsuites>',
    '',
  ].join('\n')
}

/** Seconds with milliseconds, as JUnit's time attributes hold them. */
export const junitSeconds = (ms: number): string => (Math.max(0, ms) / 1000).toFixed(3)

/** JUnit's timestamp is ISO 8601 without a zone (the times are UTC). */
export const junitTimestamp = (iso: string): string => iso.replace(/(\.\d+)?Z$/, '')

function elapsedMs(from: string, to: string): number {
  const ms = Date.parse(to) - Date.parse(from)
  return Number.isFinite(ms) ? ms : 0
}

/** A check's <failure> or <error>, with `text` as its body; none for a pass. */
function checkProblem(check: CheckResult, text: string): JunitCase['problem'] {
  if (check.status === 'pass') return undefined
  return {element: check.status === 'error' ? 'error' : 'failure', type: check.status, message: check.message, text}
}

// ---------------------------------------------------------------------------------------------------------------
// One machine: `chaos-lab check LESSON --junit FILE`

export function formatJunit(run: LessonRun): string {
  const time = junitSeconds(elapsedMs(run.started, run.finished))
  const cases = run.checks.map((check): JunitCase => ({
    attributes: [['name', `${check.id}: ${check.title}`], ['classname', `chaos-lab.${run.lesson}`], ['time', junitSeconds(check.durationMs)]],
    problem: checkProblem(check, check.hint ? `${check.message}\nhint: ${check.hint}` : check.message),
  }))
  return renderJunit({
    head: [['name', 'chaos-lab']],
    tail: [['time', time]],
    suites: [{
      head: [['name', run.lesson]],
      tail: [['time', time], ['timestamp', junitTimestamp(run.started)], ['hostname', run.target]],
      properties: [['target', run.target], ['started', run.started], ['finished', run.finished]],
      cases,
    }],
  })
}

/** Writes `formatJunit(run)` to a file; a file that cannot be written is a usage error (exit 2) naming it. */
export function writeJunitFile(file: string, run: LessonRun): void {
  try {
    writeFileSync(file, formatJunit(run))
  } catch (error) {
    throw new UsageError(`Could not write the JUnit report to ${file}: ${errorMessage(error)}.`, {suggestion: 'Pass --junit a path in a folder you can write to.'}, 'junit_unwritable')
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A class: the class report's junit.xml

/**
 * One <testsuite> per host. The classname is chaos-lab.LESSON.HOST (dots in the host become _ so that CI servers
 * do not read them as packages). A host that could not be checked (or was lost mid-run) adds one <error>
 * testcase, `connect` or `check`, after the checks it finished.
 */
export function formatClassJunit(run: ClassRun): string {
  const suites = run.hosts.map((outcome): JunitSuite => {
    const classname = `chaos-lab.${run.lesson}.${outcome.host.replace(/\./g, '_')}`
    const cases = (outcome.result?.checks ?? []).map((check): JunitCase => ({
      attributes: [['classname', classname], ['name', `${check.id}: ${check.title}`], ['time', junitSeconds(check.durationMs)]],
      problem: checkProblem(check, check.hint ? `${check.message}\nHint: ${check.hint}` : check.message),
    }))
    if (outcome.status !== 'ok') {
      const message = outcome.error?.message ?? (outcome.status === 'unreachable' ? `${outcome.host} could not be reached` : `checking ${outcome.host} failed`)
      cases.push({
        attributes: [['classname', classname], ['name', outcome.status === 'unreachable' ? 'connect' : 'check'], ['time', '0.000']],
        problem: {element: 'error', type: outcome.error?.code ?? outcome.status, message, text: message},
      })
    }
    const lessonRun = outcome.result
    return {
      head: [['name', outcome.host], ['hostname', outcome.host]],
      tail: [['time', lessonRun ? junitSeconds(elapsedMs(lessonRun.started, lessonRun.finished)) : '0.000'], ['timestamp', junitTimestamp(lessonRun?.started ?? run.started)]],
      cases,
    }
  })
  return renderJunit({
    head: [['name', `chaos-lab check ${run.lesson}`]],
    tail: [['time', junitSeconds(elapsedMs(run.started, run.finished))], ['timestamp', junitTimestamp(run.started)]],
    suites,
  })
}
