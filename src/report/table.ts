import type {CheckStatus, LessonRun} from '../lessons/result.js'

export interface TableOptions {
  /** ANSI colours (a terminal without NO_COLOR). Golden files are plain. */
  color?: boolean
  /** Wrap messages and hints to this many columns. */
  width?: number
}

const LABEL: Record<CheckStatus, string> = {pass: 'PASS', fail: 'FAIL', blocked: 'BLOCKED', error: 'ERROR'}
/** SGR codes: the caller decides whether to colour (a TTY, no NO_COLOR), so no library second-guesses it. */
const SGR = {bold: [1, 22], dim: [2, 22], green: [32, 39], red: [31, 39], yellow: [33, 39], magenta: [35, 39]} as const
type Style = keyof typeof SGR
const COLOUR: Record<CheckStatus, Style> = {pass: 'green', fail: 'red', blocked: 'yellow', error: 'magenta'}
const LABEL_WIDTH = 9
const INDENT = ' '.repeat(2 + LABEL_WIDTH)

/** Word-wraps text; the first line is `first` + text, the rest `rest` + text; a long word is never broken. */
function wrap(text: string, width: number, first: string, rest: string): string[] {
  const lines: string[] = []
  for (const paragraph of text.split('\n')) {
    let line = ''
    for (const word of paragraph.split(/\s+/).filter(Boolean)) {
      const prefix = lines.length === 0 ? first : rest
      if (line && prefix.length + line.length + 1 + word.length > width) {
        lines.push(prefix + line)
        line = word
      } else line = line ? `${line} ${word}` : word
    }
    lines.push((lines.length === 0 ? first : rest) + line)
  }
  return lines
}

function duration(run: LessonRun): string {
  const ms = Date.parse(run.finished) - Date.parse(run.started)
  if (!Number.isFinite(ms) || ms < 0) return ''
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
}

/** The summary line: "14 checks: 9 passed, 3 failed, 1 blocked, 1 error (12.3 s)". */
export function summaryLine(run: LessonRun): string {
  const {total, pass, fail, blocked, error} = run.summary
  const parts = [`${pass} passed`, ...(fail ? [`${fail} failed`] : []), ...(blocked ? [`${blocked} blocked`] : []), ...(error ? [`${error} ${error === 1 ? 'error' : 'errors'}`] : [])]
  const took = duration(run)
  const verdict = pass === total && error === 0 ? 'all passed' : parts.join(', ')
  return `${total} ${total === 1 ? 'check' : 'checks'}: ${verdict}${took ? ` (${took})` : ''}`
}

/**
 * The human report: one line per check with its status; under each check that did not pass, what was found
 * and the hint, indented; then a summary line and what to do next.
 */
export function formatTable(run: LessonRun, options: TableOptions = {}): string {
  const width = Math.max(60, options.width ?? 100)
  const paint = (style: Style, text: string) => (options.color ? `\u001B[${SGR[style][0]}m${text}\u001B[${SGR[style][1]}m` : text)
  const lines = [paint('bold', `${run.lesson} on ${run.target}`), '']
  for (const check of run.checks) {
    const label = LABEL[check.status].padEnd(LABEL_WIDTH)
    lines.push(`  ${paint(COLOUR[check.status], label)}${check.title}`)
    if (check.status === 'pass') continue
    if (check.message) lines.push(...wrap(check.message, width, INDENT, INDENT))
    if (check.hint) lines.push(...wrap(check.hint, width, `${INDENT}hint: `, `${INDENT}      `).map((line) => paint('dim', line)))
  }
  lines.push('', summaryLine(run))
  const {summary} = run
  if (summary.error > 0) lines.push('Some checks could not run (ERROR): that is not a mark against you; fix what their hint says and run the check again.')
  else if (summary.pass < summary.total) lines.push('Work through the hints above, then run the check again.')
  return `${lines.join('\n')}\n`
}
