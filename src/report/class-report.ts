import {mkdir, rename, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {summarize, type CheckResult, type CheckStatus, type LessonRun} from '../labs/result.js'

/**
 * The class report of `check LESSON --inventory F --report DIR`: one JSON per host, a CSV matrix, a JUnit file
 * and one self-contained HTML page. Pure: it reads only the outcomes given and writes only inside DIR.
 */

export interface HostOutcome {
  /** The inventory host name. */
  host: string
  status: 'checked' | 'unreachable' | 'error'
  error?: {code: string; message: string}
  /** Present when checks ran (possibly only some of them, when the host was lost mid-run). */
  run?: LessonRun
}

export interface ClassRun {
  lesson: string
  /** ISO 8601 times. */
  started: string
  finished: string
  hosts: HostOutcome[]
}

/** What one matrix cell shows. `missing`: the host was checked but did not report this check. */
export type CellStatus = CheckStatus | 'unreachable' | 'missing'

export const REPORT_FILES = {csv: 'matrix.csv', junit: 'junit.xml', html: 'report.html', hostsDir: 'hosts'} as const

interface Column {
  id: string
  title: string
}

interface Cell {
  status: CellStatus
  check: CheckResult | undefined
}

interface Row {
  outcome: HostOutcome
  cells: Cell[]
  passed: number
  total: number
}

interface Matrix {
  columns: Column[]
  rows: Row[]
}

/** Columns: every check id, in the order first seen. Cells: the check's status, or why there is none. */
export function buildMatrix(run: ClassRun): Matrix {
  const columns: Column[] = []
  const seen = new Set<string>()
  for (const outcome of run.hosts) {
    for (const check of outcome.run?.checks ?? []) {
      if (seen.has(check.id)) continue
      seen.add(check.id)
      columns.push({id: check.id, title: check.title})
    }
  }
  const rows = run.hosts.map((outcome): Row => {
    const byId = new Map((outcome.run?.checks ?? []).map((check) => [check.id, check]))
    const absent: CellStatus = outcome.status === 'checked' ? 'missing' : outcome.status === 'unreachable' ? 'unreachable' : 'error'
    const cells = columns.map((column): Cell => {
      const check = byId.get(column.id)
      return {status: check ? check.status : absent, check}
    })
    const checks = outcome.run?.checks ?? []
    const passed = summarize(checks).pass
    const total = outcome.status === 'checked' && outcome.run ? checks.length : columns.length
    return {outcome, cells, passed, total}
  })
  return {columns, rows}
}

// ---------------------------------------------------------------------------------------------------------------
// Files

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i

/** A host name as a file name: only [A-Za-z0-9._-], no leading dot, unique even on case-insensitive disks. */
export function safeFileNames(hosts: readonly string[]): string[] {
  const used = new Set<string>()
  return hosts.map((host) => {
    let base = host.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\./, '_').slice(0, 100) || '_'
    if (WINDOWS_RESERVED.test(base)) base = `_${base}`
    let name = base
    for (let n = 2; used.has(name.toLowerCase()); n++) name = `${base}-${n}`
    used.add(name.toLowerCase())
    return name
  })
}

/** Writes through a temporary file and a rename, so a reader never sees half a report. */
async function writeAtomically(file: string, contents: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`
  await writeFile(temporary, contents, 'utf8')
  await rename(temporary, file)
}

/** Writes hosts/<host>.json, matrix.csv, junit.xml and report.html into dir; returns the paths written. */
export async function writeClassReport(dir: string, run: ClassRun): Promise<{files: string[]}> {
  const hostsDir = join(dir, REPORT_FILES.hostsDir)
  await mkdir(hostsDir, {recursive: true})
  const matrix = buildMatrix(run)
  const files: string[] = []
  const names = safeFileNames(run.hosts.map((outcome) => outcome.host))
  for (const [index, outcome] of run.hosts.entries()) {
    const file = join(hostsDir, `${names[index] ?? `host-${index}`}.json`)
    await writeAtomically(file, `${JSON.stringify({lesson: run.lesson, ...outcome}, null, 2)}\n`)
    files.push(file)
  }
  const outputs: [string, string][] = [
    [REPORT_FILES.csv, renderCsv(matrix)],
    [REPORT_FILES.junit, renderJunit(run, matrix)],
    [REPORT_FILES.html, renderHtml(run, matrix)],
  ]
  for (const [name, contents] of outputs) {
    const file = join(dir, name)
    await writeAtomically(file, contents)
    files.push(file)
  }
  return {files}
}

// ---------------------------------------------------------------------------------------------------------------
// CSV (RFC 4180, CRLF)

const CSV_CELL: Record<CellStatus, string> = {pass: 'pass', fail: 'fail', blocked: 'blocked', error: 'error', unreachable: 'unreachable', missing: ''}

export function csvField(value: string | number): string {
  if (typeof value === 'number') return String(value)
  // A spreadsheet runs a cell starting with = + - @ as a formula: keep such text as text.
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

export function renderCsv(matrix: Matrix): string {
  const lines = [['host', 'status', 'passed', 'total', ...matrix.columns.map((column) => column.id)]]
  for (const row of matrix.rows) {
    lines.push([row.outcome.host, row.outcome.status, String(row.passed), String(row.total), ...row.cells.map((cell) => CSV_CELL[cell.status])])
  }
  return lines.map((fields) => fields.map((field) => csvField(field)).join(',')).join('\r\n') + '\r\n'
}

// ---------------------------------------------------------------------------------------------------------------
// JUnit XML

/** XML 1.0 cannot carry most control characters, even escaped; they become U+FFFD. */
function xmlSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
}

export function xmlText(text: string): string {
  return xmlSafe(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

export function xmlAttr(text: string): string {
  return xmlText(text).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;')
}

const seconds = (ms: number) => (Math.max(0, ms) / 1000).toFixed(3)

function durationMs(from: string, to: string): number {
  const ms = Date.parse(to) - Date.parse(from)
  return Number.isFinite(ms) ? ms : 0
}

/** JUnit's timestamp is ISO 8601 without a zone (the times are UTC). */
const junitTime = (iso: string) => iso.replace(/(\.\d+)?Z$/, '')

/**
 * As the single-host JUnit (src/report/junit.ts): a blocked check is a <failure type="blocked">, not <skipped>,
 * because CI calls a skipped test fine and a blocked check is work left to do. The classname is
 * chaos-lab.LESSON.HOST (dots in the host become _ so that CI servers do not read them as packages).
 */
export function renderJunit(run: ClassRun, matrix: Matrix): string {
  const totals = {tests: 0, failures: 0, errors: 0, skipped: 0}
  const suites = matrix.rows.map(({outcome}) => {
    const cases: string[] = []
    const counts = {tests: 0, failures: 0, errors: 0, skipped: 0}
    const classname = xmlAttr(`chaos-lab.${run.lesson}.${outcome.host.replace(/\./g, '_')}`)
    for (const check of outcome.run?.checks ?? []) {
      counts.tests++
      const name = xmlAttr(`${check.id}: ${check.title}`)
      const detail = xmlText(check.hint ? `${check.message}\nHint: ${check.hint}` : check.message)
      const open = `    <testcase classname="${classname}" name="${name}" time="${seconds(check.durationMs)}"`
      if (check.status === 'pass') {
        cases.push(`${open}/>`)
      } else if (check.status === 'fail' || check.status === 'blocked') {
        counts.failures++
        cases.push(`${open}>\n      <failure type="${check.status}" message="${xmlAttr(check.message)}">${detail}</failure>\n    </testcase>`)
      } else {
        counts.errors++
        cases.push(`${open}>\n      <error type="error" message="${xmlAttr(check.message)}">${detail}</error>\n    </testcase>`)
      }
    }
    if (outcome.status !== 'checked') {
      counts.tests++
      counts.errors++
      const type = outcome.error?.code ?? outcome.status
      const message = outcome.error?.message ?? (outcome.status === 'unreachable' ? `${outcome.host} could not be reached` : `checking ${outcome.host} failed`)
      const name = outcome.status === 'unreachable' ? 'connect' : 'check'
      cases.push(`    <testcase classname="${classname}" name="${name}" time="0.000">\n      <error type="${xmlAttr(type)}" message="${xmlAttr(message)}">${xmlText(message)}</error>\n    </testcase>`)
    }
    for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += counts[key]
    const time = outcome.run ? seconds(durationMs(outcome.run.started, outcome.run.finished)) : '0.000'
    const timestamp = junitTime(outcome.run?.started ?? run.started)
    return `  <testsuite name="${xmlAttr(outcome.host)}" hostname="${xmlAttr(outcome.host)}" tests="${counts.tests}" failures="${counts.failures}" errors="${counts.errors}" skipped="${counts.skipped}" time="${time}" timestamp="${xmlAttr(timestamp)}">\n${cases.join('\n')}\n  </testsuite>`
  })
  const head = `<testsuites name="${xmlAttr(`chaos-lab check ${run.lesson}`)}" tests="${totals.tests}" failures="${totals.failures}" errors="${totals.errors}" skipped="${totals.skipped}" time="${seconds(durationMs(run.started, run.finished))}" timestamp="${xmlAttr(junitTime(run.started))}">`
  return `<?xml version="1.0" encoding="UTF-8"?>\n${head}\n${suites.join('\n')}\n</testsuites>\n`
}

// ---------------------------------------------------------------------------------------------------------------
// HTML: one page, inline CSS, no scripts, no external resources; every interpolated value is escaped.

/** Markup that is already escaped. Only `html` below makes it. */
class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

export function escapeHtml(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, '\uFFFD')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')
}

type HtmlValue = SafeHtml | string | number | null | undefined | false | readonly HtmlValue[]

function renderValue(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.value
  if (Array.isArray(value)) return (value as readonly HtmlValue[]).map(renderValue).join('')
  if (value === null || value === undefined || value === false) return ''
  return escapeHtml(String(value))
}

/** A template tag that escapes every interpolation unless it is itself `html` — escaping is on by default. */
function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? ''
  values.forEach((value, index) => {
    out += renderValue(value) + (strings[index + 1] ?? '')
  })
  return new SafeHtml(out)
}

const LABEL: Record<CellStatus, string> = {pass: 'pass', fail: 'fail', blocked: 'blocked', error: 'error', unreachable: 'unreachable', missing: 'not run'}

const LEGEND: [CellStatus, string][] = [
  ['pass', 'the check passed'],
  ['fail', 'the learner has work to do'],
  ['blocked', 'an earlier check must pass first'],
  ['error', 'the check itself could not run'],
  ['unreachable', 'chaos-lab could not reach the machine'],
]

const STYLE = `
:root { color-scheme: light; --pass: #1a7f37; --fail: #cf222e; --blocked: #9a6700; --error: #8250df; --unreachable: #6e7781; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Liberation Sans", "DejaVu Sans", sans-serif; color: #1f2328; background: #fff; margin: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #59636e; margin: 0 0 12px; }
.totals { margin: 0 0 14px; font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; list-style: none; padding: 0; margin: 0 0 16px; }
.legend li { display: flex; align-items: center; gap: 6px; }
.badge { display: inline-block; min-width: 5.6em; padding: 2px 6px; border-radius: 4px; color: #fff; font-weight: 600; font-size: 12px; text-align: center; }
.wrap { overflow: auto; width: fit-content; max-width: 100%; border: 1px solid #d1d9e0; border-radius: 6px; }
table.matrix { border-collapse: separate; border-spacing: 0; }
.matrix th, .matrix td { padding: 5px 8px; border-bottom: 1px solid #d1d9e0; border-right: 1px solid #eef1f4; text-align: center; white-space: nowrap; }
.matrix thead th { position: sticky; top: 0; background: #f6f8fa; z-index: 2; font-size: 12px; vertical-align: bottom; white-space: normal; max-width: 10em; overflow-wrap: anywhere; }
.matrix th[scope=row] { position: sticky; left: 0; background: #fff; text-align: left; z-index: 1; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.matrix thead th:first-child { left: 0; z-index: 3; text-align: left; }
.matrix tfoot th, .matrix tfoot td { background: #f6f8fa; font-weight: 600; border-bottom: 0; }
.matrix tfoot th[scope=row] { font-family: inherit; background: #f6f8fa; }
.matrix td.cell { color: #fff; font-weight: 600; font-size: 12px; min-width: 6.5em; }
.pass { background: var(--pass); } .fail { background: var(--fail); } .blocked { background: var(--blocked); }
.error { background: var(--error); } .unreachable { background: var(--unreachable); }
td.missing { background: #fff; color: #59636e !important; font-weight: 400 !important; }
tr.row-unreachable th, tr.row-error th { color: #59636e; }
tr.row-unreachable th[scope=row]::after { content: " (unreachable)"; font-family: system-ui, sans-serif; font-size: 11px; }
tr.row-error th[scope=row]::after { content: " (error)"; font-family: system-ui, sans-serif; font-size: 11px; }
.count { font-variant-numeric: tabular-nums; }
.all-passed { color: var(--pass); font-weight: 700; }
details { margin: 6px 0; border: 1px solid #d1d9e0; border-radius: 6px; padding: 6px 10px; }
summary { cursor: pointer; font-weight: 600; }
.details ul { margin: 6px 0; padding-left: 18px; }
.details li { margin: 4px 0; }
.hint { color: #59636e; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
@media print { body { margin: 0; } .wrap { overflow: visible; border: 0; } * { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
`

function cellTitle(column: Column, cell: Cell, outcome: HostOutcome): string {
  const check = cell.check
  if (check) {
    const lines = [`${column.id}: ${check.title}`, `${LABEL[check.status]}: ${check.message}`]
    if (check.hint) lines.push(`Hint: ${check.hint}`)
    return lines.join('\n')
  }
  if (cell.status === 'missing') return `${column.id}: ${column.title}\nThis host did not report this check.`
  return `${column.id}: ${column.title}\n${LABEL[cell.status]}: ${outcome.error?.message ?? 'no result'}`
}

function hostSummary(row: Row): string {
  const {outcome} = row
  if (outcome.status !== 'checked') return `${outcome.status}: ${outcome.error?.message ?? 'no result'}`
  return `${row.passed} of ${row.total} checks pass`
}

export function renderHtml(run: ClassRun, matrix: Matrix): string {
  const {columns, rows} = matrix
  const hostCount = rows.length
  const allPassed = rows.filter((row) => row.outcome.status === 'checked' && row.total > 0 && row.passed === row.total).length
  const unreachable = rows.filter((row) => row.outcome.status === 'unreachable').length
  const errored = rows.filter((row) => row.outcome.status === 'error').length
  const working = hostCount - allPassed - unreachable - errored

  const headers = columns.map((column) => html`<th scope="col" class="check" data-check="${column.id}" title="${column.title}">${column.id}</th>`)
  const body = rows.map((row) => {
    const {outcome} = row
    const complete = outcome.status === 'checked' && row.total > 0 && row.passed === row.total
    const cells = row.cells.map((cell, index) => {
      const column = columns[index] ?? {id: '', title: ''}
      return html`<td class="cell ${cell.status}" data-host="${outcome.host}" data-check="${column.id}" data-status="${cell.status}" title="${cellTitle(column, cell, outcome)}">${LABEL[cell.status]}</td>`
    })
    return html`<tr class="host-row row-${outcome.status}" data-host="${outcome.host}" data-status="${outcome.status}">
<th scope="row" title="${hostSummary(row)}">${outcome.host}</th>
<td class="count${complete ? ' all-passed' : ''}" data-passed="${row.passed}" data-total="${row.total}" title="${hostSummary(row)}">${row.passed}/${row.total}</td>
${cells}
</tr>
`
  })
  const perCheck = columns.map((column, index) => {
    const passed = rows.filter((row) => row.cells[index]?.status === 'pass').length
    return html`<td class="count" data-check="${column.id}" data-passed="${passed}" title="${`${passed} of ${hostCount} hosts pass ${column.id}`}">${passed}/${hostCount}</td>`
  })

  const details = rows.filter((row) => row.outcome.status !== 'checked' || row.cells.some((cell) => cell.status !== 'pass')).map((row) => {
    const {outcome} = row
    const problems = (outcome.run?.checks ?? []).filter((check) => check.status !== 'pass').map((check) => html`<li><span class="badge ${check.status}">${LABEL[check.status]}</span> <code>${check.id}</code> ${check.title}: ${check.message}${check.hint ? html`<br><span class="hint">Hint: ${check.hint}</span>` : ''}</li>`)
    const hostError = outcome.status === 'checked' ? '' : html`<li><span class="badge ${outcome.status}">${outcome.status}</span> ${outcome.error?.message ?? 'no result'}${outcome.error ? html` <code>${outcome.error.code}</code>` : ''}</li>`
    return html`<details open data-host="${outcome.host}"><summary>${outcome.host} — ${hostSummary(row)}</summary><ul>${hostError}${problems}</ul></details>
`
  })

  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>chaos-lab · ${run.lesson} · class report</title>
<style>${new SafeHtml(STYLE)}</style>
</head>
<body>
<h1>Class report: ${run.lesson}</h1>
<p class="meta">Checked from <time datetime="${run.started}">${run.started}</time> to <time datetime="${run.finished}">${run.finished}</time> by chaos-lab.</p>
<p class="totals">${hostCount} ${hostCount === 1 ? 'host' : 'hosts'}: ${allPassed} all passed · ${working} with work to do · ${unreachable} unreachable${errored > 0 ? ` · ${errored} with errors` : ''}</p>
<ul class="legend">
${LEGEND.map(([status, meaning]) => html`<li><span class="badge ${status}">${LABEL[status]}</span> ${meaning}</li>\n`)}</ul>
<div class="wrap">
<table class="matrix">
<thead><tr><th scope="col">Host</th><th scope="col" title="Checks passed out of the lesson's checks">Passed</th>${headers}</tr></thead>
<tbody>
${body}</tbody>
<tfoot><tr><th scope="row">Hosts passing</th><td></td>${perCheck}</tr></tfoot>
</table>
</div>
<p class="meta">Hover over a cell for the check's finding and its hint.</p>
${details.length > 0 ? html`<section class="details"><h2>What is not passing</h2>
${details}</section>` : ''}
<section class="checks"><h2>Checks</h2><ol>${columns.map((column) => html`<li><code>${column.id}</code> ${column.title}</li>`)}</ol></section>
</body>
</html>
`
  return page.value
}

// ---------------------------------------------------------------------------------------------------------------
// Terminal summary

/** Control characters (escape sequences included) must not reach the terminal from a host name or message. */
function plain(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001F\u007F-\u009F]+/g, ' ').trim()
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`
}

/** A short table for the terminal: one line per host, then the class totals. No colours. */
export function formatClassSummary(run: ClassRun): string {
  const matrix = buildMatrix(run)
  const table = matrix.rows.map((row) => {
    const {outcome} = row
    let detail = ''
    if (outcome.status !== 'checked') {
      detail = outcome.error?.message ?? ''
    } else {
      const notPassing = (outcome.run?.checks ?? []).filter((check) => check.status !== 'pass')
      detail = notPassing.map((check) => `${check.id} ${check.status}`).join(', ')
    }
    return [truncate(plain(outcome.host), 40), outcome.status, `${row.passed}/${row.total}`, truncate(plain(detail), 70)]
  })
  const header = ['HOST', 'STATUS', 'PASSED', 'NOT PASSING']
  const widths = header.map((title, column) => Math.max(title.length, ...table.map((line) => (line[column] ?? '').length)))
  const format = (line: string[]) => line.map((cell, column) => column === line.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()
  const allPassed = matrix.rows.filter((row) => row.outcome.status === 'checked' && row.total > 0 && row.passed === row.total).length
  const unreachable = matrix.rows.filter((row) => row.outcome.status === 'unreachable').length
  const errored = matrix.rows.filter((row) => row.outcome.status === 'error').length
  const working = matrix.rows.length - allPassed - unreachable - errored
  const totals = `${plain(run.lesson)}: ${matrix.rows.length} hosts, ${allPassed} all passed, ${working} with work to do, ${unreachable} unreachable${errored > 0 ? `, ${errored} with errors` : ''}`
  return [format(header), ...table.map(format), '', totals].join('\n')
}
