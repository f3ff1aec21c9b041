import type {HostOutcome} from '../fleet/run.js'
import {summarize, type CheckResult, type CheckStatus, type LessonRun} from '../lessons/result.js'

/**
 * The class report's model: what `check LESSON --inventory F` found on each host (the fleet's HostOutcome: ok,
 * unreachable or error, with the lesson's run when checks ran), as a matrix of hosts × checks.
 */

export interface ClassRun {
  lesson: string
  /** ISO 8601 times. */
  started: string
  finished: string
  /** A host lost mid-run is `unreachable` (or `error`) and keeps the checks it finished in `result`. */
  hosts: ReportedHost[]
}

/** What the report reads of a host's outcome in the fleet run. */
export type ReportedHost = Pick<HostOutcome<LessonRun>, 'host' | 'status' | 'error' | 'result'>

/** A host's outcome as the report's readers see it (CSV, HTML, host files): `ok` reads "checked". */
export type HostStatusWord = 'checked' | 'unreachable' | 'error'

export function hostStatusWord(outcome: Pick<ReportedHost, 'status'>): HostStatusWord {
  return outcome.status === 'ok' ? 'checked' : outcome.status
}

/** What one matrix cell shows. `missing`: the host was checked but did not report this check. */
export type CellStatus = CheckStatus | 'unreachable' | 'missing'

export interface Column {
  id: string
  title: string
}

export interface Cell {
  status: CellStatus
  check: CheckResult | undefined
}

export interface Row {
  outcome: ReportedHost
  cells: Cell[]
  passed: number
  total: number
}

export interface Matrix {
  columns: Column[]
  rows: Row[]
}

/** Columns: every check id, in the order first seen. Cells: the check's status, or why there is none. */
export function buildMatrix(run: ClassRun): Matrix {
  const columns: Column[] = []
  const seen = new Set<string>()
  for (const outcome of run.hosts) {
    for (const check of outcome.result?.checks ?? []) {
      if (seen.has(check.id)) continue
      seen.add(check.id)
      columns.push({id: check.id, title: check.title})
    }
  }
  const rows = run.hosts.map((outcome): Row => {
    const byId = new Map((outcome.result?.checks ?? []).map((check) => [check.id, check]))
    const absent: CellStatus = outcome.status === 'ok' ? 'missing' : outcome.status
    const cells = columns.map((column): Cell => {
      const check = byId.get(column.id)
      return {status: check ? check.status : absent, check}
    })
    const checks = outcome.result?.checks ?? []
    const passed = summarize(checks).pass
    const total = outcome.status === 'ok' && outcome.result ? checks.length : columns.length
    return {outcome, cells, passed, total}
  })
  return {columns, rows}
}

/** A row whose host was checked and passed every check. */
export function allPassed(row: Row): boolean {
  return row.outcome.status === 'ok' && row.total > 0 && row.passed === row.total
}
