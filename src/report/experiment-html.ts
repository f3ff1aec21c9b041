import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {LocalWriteError, errorMessage} from '../errors.js'
import type {ActivityRun, Journal, LoadSecond, Mark, SteadyState} from '../experiments/journal.js'
import {sumSeconds} from '../experiments/load.js'
import {html, SafeHtml} from './html.js'

/**
 * `chaos-lab experiment run --report DIR`: DIR/report.html (one page: inline CSS and SVG, no scripts, nothing
 * fetched; every value escaped) with the chart over time, the hypothesis before and after, the method and the
 * rollbacks; DIR/journal.json beside it.
 */

const COLORS = {ok: '#1a7f37', errors: '#cf222e', p50: '#0969da', p95: '#9a6700', mark: '#8250df'}
const STYLE = `
body { font: 14px/1.45 system-ui, "Liberation Sans", "DejaVu Sans", sans-serif; color: #1f2328; margin: 24px; max-width: 1200px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 24px 0 8px; }
.meta { color: #59636e; margin: 0 0 12px; }
.verdict { display: inline-block; padding: 4px 10px; border-radius: 6px; color: #fff; font-weight: 700; }
.verdict.held { background: #1a7f37; } .verdict.deviated { background: #cf222e; } .verdict.other { background: #6e7781; }
table { border-collapse: collapse; margin: 6px 0 12px; } th, td { border: 1px solid #d1d9e0; padding: 4px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #cf222e; font-weight: 600; }
svg text { font: 11px system-ui, "Liberation Sans", "DejaVu Sans", sans-serif; fill: #59636e; }
.legend span { display: inline-block; margin-right: 16px; } .swatch { display: inline-block; width: 14px; height: 4px; vertical-align: middle; margin-right: 4px; }
`

interface Area {
  width: number
  height: number
  left: number
  top: number
}

function polyline(values: readonly (number | null)[], area: Area, max: number, color: string, series: string, seconds: number): SafeHtml {
  const step = area.width / Math.max(1, seconds - 1)
  const points = values.map((v, i) => `${(area.left + i * step).toFixed(1)},${(area.top + area.height - ((v ?? 0) / max) * area.height).toFixed(1)}`).join(' ')
  return html`<polyline data-series="${series}" fill="none" stroke="${color}" stroke-width="2" points="${points}"/>`
}

function axes(area: Area, max: number, unit: string, seconds: number): SafeHtml {
  const ticks = [0, 0.5, 1].map((f) => html`<text x="${area.left - 6}" y="${area.top + area.height - f * area.height + 4}" text-anchor="end">${Math.round(max * f)} ${unit}</text><line x1="${area.left}" x2="${area.left + area.width}" y1="${area.top + area.height - f * area.height}" y2="${area.top + area.height - f * area.height}" stroke="#eef1f4"/>`)
  const every = seconds > 120 ? 30 : 10
  const step = area.width / Math.max(1, seconds - 1)
  const xs = Array.from({length: Math.floor((seconds - 1) / every) + 1}, (_, k) => k * every)
    .map((t) => html`<text x="${area.left + t * step}" y="${area.top + area.height + 16}" text-anchor="middle">${t}s</text>`)
  return html`${ticks}${xs}`
}

function markLines(marks: readonly Mark[], area: Area, seconds: number): SafeHtml {
  const step = area.width / Math.max(1, seconds - 1)
  return html`${marks.map((mark) => html`<line class="mark" data-t="${mark.t}" x1="${area.left + mark.t * step}" x2="${area.left + mark.t * step}" y1="${area.top}" y2="${area.top + area.height}" stroke="${COLORS.mark}" stroke-dasharray="3 3"><title>${mark.t.toFixed(1)} s: ${mark.label}</title></line>`)}`
}

/** The chart: requests per second (ok, errors) above, latency (p50, p95) below, marks across both. */
export function chartSvg(seconds: readonly LoadSecond[], marks: readonly Mark[]): SafeHtml {
  const n = Math.max(2, seconds.length)
  const top: Area = {left: 70, top: 10, width: 1000, height: 220}
  const bottom: Area = {left: 70, top: 280, width: 1000, height: 140}
  const maxRequests = Math.max(1, ...seconds.map((s) => Math.max(s.ok, s.failed + s.non2xx)))
  const maxLatency = Math.max(1, ...seconds.map((s) => s.p95 ?? 0))
  return html`<svg xmlns="http://www.w3.org/2000/svg" width="1100" height="450" viewBox="0 0 1100 450" role="img" aria-label="requests per second and latency over time">
${axes(top, maxRequests, 'r/s', n)}${axes(bottom, maxLatency, 'ms', n)}
${polyline(seconds.map((s) => s.ok), top, maxRequests, COLORS.ok, 'ok', n)}
${polyline(seconds.map((s) => s.failed + s.non2xx), top, maxRequests, COLORS.errors, 'errors', n)}
${polyline(seconds.map((s) => s.p50), bottom, maxLatency, COLORS.p50, 'p50', n)}
${polyline(seconds.map((s) => s.p95), bottom, maxLatency, COLORS.p95, 'p95', n)}
${markLines(marks, top, n)}${markLines(marks, bottom, n)}
</svg>`
}

function activityRows(runs: readonly ActivityRun[]): SafeHtml {
  return html`${runs.map((run) => {
    const name = run.activity.type === 'pause' ? `pause ${run.activity.seconds} s` : run.activity.name
    const ok = run.tolerance_met ?? run.status === 'succeeded'
    const output = typeof run.output === 'object' && run.output !== null && 'status' in run.output ? `status ${String((run.output).status)}` : run.output === null ? '' : JSON.stringify(run.output)
    return html`<tr data-activity="${name}" data-status="${run.status}"><td>${run.activity.type}</td><td>${name}</td><td class="${ok ? 'pass' : 'fail'}">${run.tolerance_met === undefined ? run.status : run.tolerance_met ? 'within tolerance' : 'outside tolerance'}</td><td>${output}</td><td class="num">${run.duration.toFixed(1)} s</td><td>${(run.exception ?? []).join(' ')}</td></tr>`
  })}`
}

function stateTable(title: string, state: SteadyState | null): SafeHtml {
  if (!state) return html`<h2>${title}: not run</h2>`
  return html`<h2>${title}: <span class="${state.steady_state_met ? 'pass' : 'fail'}" data-hypothesis="${title}">${state.steady_state_met ? 'met' : 'not met'}</span></h2>
<table><tr><th>type</th><th>probe</th><th>result</th><th>output</th><th>time</th><th>why</th></tr>${activityRows(state.probes)}</table>`
}

export function renderExperimentHtml(journal: Journal): string {
  const lab = journal['chaos-lab']
  const seconds = lab.load?.seconds ?? []
  const sums = sumSeconds(seconds)
  const totals = lab.load?.totals
  const verdictClass = journal.status === 'completed' && !journal.deviated ? 'held' : journal.deviated ? 'deviated' : 'other'
  const page = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${journal.experiment.title}</title><style>${new SafeHtml(STYLE)}</style></head>
<body data-status="${journal.status}" data-deviated="${String(journal.deviated)}">
<h1>${journal.experiment.title}</h1>
<p class="meta">${lab.name} on ${lab.target} · ${journal.start} · ${journal.duration.toFixed(1)} s · status ${journal.status}</p>
<p><span class="verdict ${verdictClass}">${verdictClass === 'held' ? 'hypothesis held' : verdictClass === 'deviated' ? 'hypothesis deviated' : journal.status}</span> ${lab.summary}</p>
<p>${journal.experiment.description}</p>
<h2>Users' view: requests per second and latency through ${lab.load?.url ?? 'the load balancer'}</h2>
<p class="legend"><span><i class="swatch" style="background:${COLORS.ok}"></i>successful</span><span><i class="swatch" style="background:${COLORS.errors}"></i>failed or non-2xx</span><span><i class="swatch" style="background:${COLORS.p50}"></i>p50 latency</span><span><i class="swatch" style="background:${COLORS.p95}"></i>p95 latency</span><span><i class="swatch" style="background:${COLORS.mark}"></i>action (kill)</span></p>
${chartSvg(seconds, lab.marks)}
<table class="totals"><tr><th></th><th>requests</th><th>ok</th><th>non-2xx</th><th>failed</th></tr>
<tr data-totals="chart"><td>the chart (sum of its seconds)</td><td class="num">${sums.requests}</td><td class="num">${sums.ok}</td><td class="num">${sums.non2xx}</td><td class="num">${sums.failed}</td></tr>
<tr data-totals="generator"><td>${lab.load?.generator === 'ab' ? 'ab\'s own summary (Complete, Non-2xx, Failed requests)' : 'the load generator\'s own totals'}</td><td class="num">${totals?.requests ?? '-'}</td><td class="num">${totals?.ok ?? '-'}</td><td class="num">${totals?.non2xx ?? '-'}</td><td class="num">${totals?.failed ?? '-'}</td></tr></table>
<h2>Marks</h2><ul>${lab.marks.map((m) => html`<li>${m.t.toFixed(1)} s: ${m.label}</li>`)}</ul>
${stateTable('Hypothesis before', journal.steady_states.before)}
<h2>Method</h2><table><tr><th>type</th><th>activity</th><th>result</th><th>output</th><th>time</th><th>why</th></tr>${activityRows(journal.run)}</table>
${stateTable('Hypothesis after', journal.steady_states.after)}
<h2>Rollbacks</h2><table><tr><th>type</th><th>action</th><th>result</th><th>output</th><th>time</th><th>why</th></tr>${activityRows(journal.rollbacks)}</table>
</body></html>
`
  return page.toString()
}

/** Writes DIR/report.html and DIR/journal.json; returns the files. */
export function writeExperimentReport(dir: string, journal: Journal): string[] {
  const files = [join(dir, 'report.html'), join(dir, 'journal.json')]
  try {
    mkdirSync(dir, {recursive: true})
    writeFileSync(files[0] ?? '', renderExperimentHtml(journal))
    writeFileSync(files[1] ?? '', `${JSON.stringify(journal, null, 2)}\n`)
  } catch (error) {
    throw new LocalWriteError(`Could not write the experiment report into ${dir}: ${errorMessage(error)}.`, {suggestion: 'Pass --report a folder you can write to.'})
  }
  return files
}
