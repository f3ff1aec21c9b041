import {hostStatusWord, type CellStatus, type Matrix} from './matrix.js'

/** The class report's matrix.csv (RFC 4180, CRLF): host, status, passed, total, then a column per check. */

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
    lines.push([row.outcome.host, hostStatusWord(row.outcome), String(row.passed), String(row.total), ...row.cells.map((cell) => CSV_CELL[cell.status])])
  }
  return lines.map((fields) => fields.map((field) => csvField(field)).join(',')).join('\r\n') + '\r\n'
}
