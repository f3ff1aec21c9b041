import type {ExperimentEvent} from '../experiments/engine.js'
import type {ActivityRun, LoadSecond, Mark} from '../experiments/journal.js'
import {plainMark, plainSecond, renderChart} from './experiment-chart.js'

/**
 * What a person sees while an experiment runs. In a terminal: the steps as lines, and under them the chart,
 * redrawn every second. Elsewhere (CI, logs, --json): plain lines, one per second, step and mark.
 */

export interface LiveOutput {
  write(text: string): unknown
  columns?: number
}

const PHASES = {
  load: 'starting the load generator',
  before: 'checking the steady-state hypothesis (before)',
  method: 'running the method',
  after: 'checking the steady-state hypothesis (after)',
  rollbacks: 'running the rollbacks (always)',
} as const

function activityLine(run: ActivityRun): string {
  const name = run.activity.type === 'pause' ? `pause ${run.activity.seconds} s` : run.activity.name
  const verdict = run.tolerance_met === undefined ? run.status : run.tolerance_met ? 'within tolerance' : 'OUTSIDE tolerance'
  const value = typeof run.output === 'number' ? ` (${run.output})`
    : typeof run.output === 'object' && run.output !== null && 'status' in run.output ? ` (status ${String((run.output).status)})` : ''
  return `  ${run.activity.type} ${name}: ${verdict}${value}${run.exception ? ` — ${run.exception.join(' ')}` : ''}`
}

export class LiveView {
  private readonly seconds: LoadSecond[] = []
  private readonly marks: Mark[] = []
  private drawnLines = 0

  constructor(private readonly out: LiveOutput, private readonly tty: boolean, private readonly color: boolean) {}

  readonly onEvent = (event: ExperimentEvent): void => {
    switch (event.type) {
      case 'phase': this.line(PHASES[event.phase]); break
      case 'activity': this.line(activityLine(event.run)); break
      case 'mark':
        this.marks.push(event.mark)
        if (!this.tty) this.line(plainMark(event.mark))
        else this.redraw()
        break
      case 'second':
        this.seconds.push(event.second)
        if (this.tty) this.redraw()
        else this.line(plainSecond(event.second))
        break
      case 'interrupted': this.line('interrupted: stopping the method; the rollbacks still run (the lab is left as it was found)'); break
    }
  }

  /** Ends the live chart: it stays on screen as drawn last. */
  close(): void {
    this.drawnLines = 0
  }

  private line(text: string): void {
    if (this.tty) {
      this.erase()
      this.out.write(`${text}\n`)
      this.redraw()
    } else {
      this.out.write(`${text}\n`)
    }
  }

  private erase(): void {
    if (this.drawnLines > 0) this.out.write(`\x1b[${this.drawnLines}A\x1b[J`)
    this.drawnLines = 0
  }

  private redraw(): void {
    if (this.seconds.length === 0) return
    this.erase()
    const chart = renderChart(this.seconds, this.marks, {width: this.out.columns ?? 100, color: this.color})
    this.out.write(chart)
    this.drawnLines = chart.split('\n').length - 1
  }
}
