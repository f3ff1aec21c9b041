import {allPassed, hostStatusWord, type Cell, type CellStatus, type ClassRun, type Column, type Matrix, type ReportedHost, type Row} from './matrix.js'

// HTML: one page, inline CSS, no scripts, no external resources; every interpolated value is escaped.

/** Markup that is already escaped. Only `html` below makes it. */
export class SafeHtml {
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
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
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

function cellTitle(column: Column, cell: Cell, outcome: ReportedHost): string {
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
  if (outcome.status !== 'ok') return `${outcome.status}: ${outcome.error?.message ?? 'no result'}`
  return `${row.passed} of ${row.total} checks pass`
}

/** The class report's report.html: one page, inline CSS, no scripts, no external resources. */
export function renderHtml(run: ClassRun, matrix: Matrix): string {
  const {columns, rows} = matrix
  const hostCount = rows.length
  const passedAll = rows.filter(allPassed).length
  const unreachable = rows.filter((row) => row.outcome.status === 'unreachable').length
  const errored = rows.filter((row) => row.outcome.status === 'error').length
  const working = hostCount - passedAll - unreachable - errored

  const headers = columns.map((column) => html`<th scope="col" class="check" data-check="${column.id}" title="${column.title}">${column.id}</th>`)
  const body = rows.map((row) => {
    const {outcome} = row
    const complete = allPassed(row)
    const status = hostStatusWord(outcome)
    const cells = row.cells.map((cell, index) => {
      const column = columns[index] ?? {id: '', title: ''}
      return html`<td class="cell ${cell.status}" data-host="${outcome.host}" data-check="${column.id}" data-status="${cell.status}" title="${cellTitle(column, cell, outcome)}">${LABEL[cell.status]}</td>`
    })
    return html`<tr class="host-row row-${status}" data-host="${outcome.host}" data-status="${status}">
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

  const details = rows.filter((row) => row.outcome.status !== 'ok' || row.cells.some((cell) => cell.status !== 'pass')).map((row) => {
    const {outcome} = row
    const problems = (outcome.result?.checks ?? []).filter((check) => check.status !== 'pass').map((check) => html`<li><span class="badge ${check.status}">${LABEL[check.status]}</span> <code>${check.id}</code> ${check.title}: ${check.message}${check.hint ? html`<br><span class="hint">Hint: ${check.hint}</span>` : ''}</li>`)
    const hostError = outcome.status === 'ok' ? '' : html`<li><span class="badge ${outcome.status}">${outcome.status}</span> ${outcome.error?.message ?? 'no result'}${outcome.error ? html` <code>${outcome.error.code}</code>` : ''}</li>`
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
<p class="totals">${hostCount} ${hostCount === 1 ? 'host' : 'hosts'}: ${passedAll} all passed · ${working} with work to do · ${unreachable} unreachable${errored > 0 ? ` · ${errored} with errors` : ''}</p>
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
