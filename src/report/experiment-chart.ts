import asciichart from 'asciichart'

import type {LoadSecond, Mark} from '../experiments/journal.js'

/**
 * The experiment's chart in a terminal (asciichart): requests per second (successful, and failed or non-2xx)
 * and latency (p50, p95 of the successful ones) through the load balancer, the last seconds that fit the
 * width, with a ▲ under each second in which an action was marked (each kill). Plain lines for CI and logs.
 */

const GREEN = asciichart.green
const RED = asciichart.red
const BLUE = asciichart.blue
const YELLOW = asciichart.yellow

export interface ChartOptions {
  width: number
  color: boolean
}

const errorsOf = (s: LoadSecond) => s.failed + s.non2xx

function plot(series: number[][], height: number, colors: string[] | undefined, unit: string): string[] {
  const max = Math.max(1, ...series.flat())
  const text = asciichart.plot(series, {
    height,
    min: 0,
    max,
    format: (x: number) => `${x.toFixed(0).padStart(6)} ${unit}`,
    ...(colors ? {colors} : {}),
  })
  return text.split('\n')
}

/** The column where the plot area starts (after the axis labels and the axis itself). */
function plotStart(lines: string[]): number {
  const first = lines.find((line) => /[┤┼]/.test(line)) ?? ''
  // eslint-disable-next-line no-control-regex -- asciichart's colours are ANSI escapes
  const plain = first.replace(/\x1b\[[0-9;]*m/g, '')
  return Math.max(0, plain.search(/[┤┼]/) + 1)
}

/** The text chart of the last seconds; `marks` are placed under their second. */
export function renderChart(seconds: readonly LoadSecond[], marks: readonly Mark[], options: ChartOptions): string {
  if (seconds.length === 0) return 'waiting for the first second of load…\n'
  const room = Math.max(10, options.width - 16)
  const shown = seconds.slice(-room)
  const first = shown[0]?.t ?? 0
  const requests = plot([shown.map((s) => s.ok), shown.map(errorsOf)], 7, options.color ? [GREEN, RED] : undefined, 'r/s')
  const latency = plot([shown.map((s) => s.p50 ?? 0), shown.map((s) => s.p95 ?? 0)], 5, options.color ? [BLUE, YELLOW] : undefined, 'ms')
  const start = plotStart(requests)
  const marked = Array.from({length: shown.length}, () => ' ')
  for (const mark of marks) {
    const column = Math.floor(mark.t) - first
    if (column >= 0 && column < marked.length) marked[column] = '▲'
  }
  const axis = Array.from({length: shown.length}, () => ' ')
  for (let i = 0; i < shown.length; i++) {
    const t = first + i
    if (t % 10 === 0) `${t}s`.split('').forEach((ch, k) => { if (i + k < axis.length) axis[i + k] = ch })
  }
  const pad = ' '.repeat(start)
  const last = shown[shown.length - 1]
  const legend = `requests/s: ${options.color ? `${GREEN}ok${asciichart.reset} / ${RED}failed or non-2xx${asciichart.reset}` : 'ok (first line) / failed or non-2xx (second)'}; ▲ = action (kill)`
  const latencyLegend = `latency of successful requests: ${options.color ? `${BLUE}p50${asciichart.reset} / ${YELLOW}p95${asciichart.reset}` : 'p50 (first line) / p95 (second)'}`
  return [legend, ...requests, `${pad}${marked.join('')}`, `${pad}${axis.join('')}`, latencyLegend, ...latency,
    last ? `now: ${plainSecond(last)}` : ''].join('\n') + '\n'
}

/** One second as a plain line (CI, --json's stderr, logs). */
export function plainSecond(s: LoadSecond): string {
  const ms = (value: number | null) => (value === null ? '-' : `${value.toFixed(1)} ms`)
  const why = s.why ? `  (${Object.entries(s.why).map(([reason, n]) => `${reason} ${n}`).join(', ')})` : ''
  return `${String(s.t).padStart(4)}s  ok ${String(s.ok).padStart(4)}  non-2xx ${String(s.non2xx).padStart(4)}  failed ${String(s.failed).padStart(4)}  p50 ${ms(s.p50)}  p95 ${ms(s.p95)}${why}`
}

export function plainMark(mark: Mark): string {
  return `${mark.t.toFixed(1).padStart(6)}s  ▲ ${mark.label}`
}
