import type {CheckResult, LessonRun} from '../labs/result.js'

/**
 * JUnit XML as CI servers read it (Jenkins, GitLab, GitHub test reporters): one <testsuite> per lesson, one
 * <testcase> per check. A failed check is a <failure type="fail">; a blocked one a <failure type="blocked">
 * (not <skipped>: CI would call a skipped test fine, and a blocked check is work left to do); a check that could
 * not run is an <error>.
 */

// Characters XML 1.0 does not allow at all, even escaped (control characters other than tab, LF, CR; lone
// surrogates; U+FFFE/U+FFFF).
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

export function escapeXmlText(text: string): string {
  return text.replace(FORBIDDEN, '\uFFFD').replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}

export function escapeXmlAttribute(text: string): string {
  return escapeXmlText(text)
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;')
    .replaceAll('\t', '&#9;')
    .replaceAll('\n', '&#10;')
    .replaceAll('\r', '&#13;')
}

const attrs = (values: Record<string, string | number>): string =>
  Object.entries(values).map(([name, value]) => ` ${name}="${escapeXmlAttribute(String(value))}"`).join('')

const seconds = (ms: number): string => (Math.max(0, ms) / 1000).toFixed(3)

function elapsedMs(run: LessonRun): number {
  const ms = Date.parse(run.finished) - Date.parse(run.started)
  return Number.isFinite(ms) ? ms : 0
}

function testcase(run: LessonRun, check: CheckResult): string {
  const open = `    <testcase${attrs({name: `${check.id}: ${check.title}`, classname: `chaos-lab.${run.lesson}`, time: seconds(check.durationMs)})}`
  if (check.status === 'pass') return `${open}/>`
  const body = escapeXmlText(check.hint ? `${check.message}\nhint: ${check.hint}` : check.message)
  const element = check.status === 'error' ? 'error' : 'failure'
  return `${open}>\n      <${element}${attrs({type: check.status, message: check.message})}>${body}</${element}>\n    </testcase>`
}

export function formatJunit(run: LessonRun): string {
  const {summary} = run
  const counts = {tests: summary.total, failures: summary.fail + summary.blocked, errors: summary.error, skipped: 0, time: seconds(elapsedMs(run))}
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({name: 'chaos-lab', ...counts})}>`,
    // JUnit's timestamp is an ISO 8601 time without a zone; the time is UTC.
    `  <testsuite${attrs({name: run.lesson, ...counts, timestamp: run.started.replace(/(\.\d+)?Z$/, ''), hostname: run.target})}>`,
    '    <properties>',
    `      <property${attrs({name: 'target', value: run.target})}/>`,
    `      <property${attrs({name: 'started', value: run.started})}/>`,
    `      <property${attrs({name: 'finished', value: run.finished})}/>`,
    '    </properties>',
    ...run.checks.map((check) => testcase(run, check)),
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n')
}
