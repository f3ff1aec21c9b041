import type {ExecOptions, ExecResult} from '../ssh/session.js'
import {shellQuote} from '../util/shell.js'
import type {LoadTotals} from './journal.js'
import type {Provider, Tolerance} from './schema.js'

/** What an experiment needs of the machine: a command and its output, lines as they come. */
export interface ExperimentSession {
  exec(command: string, options?: ExecOptions): Promise<ExecResult>
}

/** A process activity's time limit when it names none (Chaos Toolkit has none; a lab must not hang). */
export const DEFAULT_PROCESS_TIMEOUT_SEC = 300

/** The words of a process provider's `arguments`: a string is split on spaces, as Chaos Toolkit does. */
export function argumentWords(args: string | readonly (string | number)[] | undefined): string[] {
  if (args === undefined) return []
  if (typeof args === 'string') return args.split(/\s+/).filter(Boolean)
  return args.map(String)
}

/**
 * A process activity as a command: in a session of its own (setsid), its process-group id written to
 * `pidFile` so that an interrupted run can stop it (`stopCommand`), bounded by `timeout`.
 */
export function processCommand(provider: Extract<Provider, {type: 'process'}>, pidFile: string): string {
  const seconds = provider.timeout ?? DEFAULT_PROCESS_TIMEOUT_SEC
  const words = [provider.path, ...argumentWords(provider.arguments)].map(shellQuote).join(' ')
  return `setsid -w bash -c 'echo $$ >"$0"; exec timeout ${seconds} "$@"' ${shellQuote(pidFile)} ${words} </dev/null; rc=$?; rm -f ${shellQuote(pidFile)}; exit $rc`
}

/** Stops the process group of an activity started by processCommand (quiet when it has ended). */
export function stopCommand(pidFile: string): string {
  const file = shellQuote(pidFile)
  return `if [ -s ${file} ]; then kill -TERM -- -"$(cat ${file})" 2>/dev/null; sleep 1; kill -KILL -- -"$(cat ${file} 2>/dev/null || echo 0)" 2>/dev/null; fi; rm -f ${file}; true`
}

/** An http probe: curl in the machine, the status code on the last line. */
export function httpCommand(provider: Extract<Provider, {type: 'http'}>): string {
  return `curl -sS --max-time ${provider.timeout} -w '\\n%{http_code}' ${shellQuote(provider.url)}`
}

export interface HttpOutput {
  status: number
  body: string
}

export function parseHttpOutput(result: ExecResult): HttpOutput {
  const stdout = result.stdout.replace(/\n$/, '')
  const cut = stdout.lastIndexOf('\n')
  const status = Number(stdout.slice(cut + 1).trim())
  return {status: Number.isInteger(status) ? status : 0, body: cut >= 0 ? stdout.slice(0, cut) : ''}
}

export interface ProcessOutput {
  status: number | null
  stdout: string
  stderr: string
}

/** The figure a `load` probe measures from the generator's counts so far. */
export function loadMeasure(measure: Extract<Provider, {type: 'load'}>['measure'], totals: LoadTotals): number {
  return measure === 'errors' ? totals.failed + totals.non2xx : totals[measure]
}

/** The value a tolerance is held against: a process's exit code, an http status, the load figure. */
function primaryOf(output: unknown): unknown {
  if (typeof output === 'number') return output
  if (typeof output === 'object' && output !== null && 'status' in output) return (output).status
  return output
}

function textOf(output: unknown, target: string | undefined): string {
  if (typeof output !== 'object' || output === null) return String(output)
  const record = output as Record<string, unknown>
  const key = target ?? ('body' in record ? 'body' : 'stdout')
  return typeof record[key] === 'string' ? record[key] : ''
}

/**
 * Chaos Toolkit's tolerance rules, for the outputs of our providers: a number is the exit code, the HTTP status
 * or the load figure; a string the whole (trimmed) stdout or body; a list any of those; a regex searches stdout
 * (or `target`); a range holds the number between its ends, both included.
 */
export function withinTolerance(tolerance: Tolerance, output: unknown): boolean {
  const primary = primaryOf(output)
  if (typeof tolerance === 'number') return primary === tolerance
  if (typeof tolerance === 'boolean') return tolerance === (primary === 0 || primary === true)
  if (typeof tolerance === 'string') return textOf(output, undefined).trim() === tolerance
  if (Array.isArray(tolerance)) {
    return tolerance.some((value) => (typeof value === 'string' ? textOf(output, undefined).trim() === value : withinTolerance(value, output)))
  }
  if (tolerance.type === 'regex') return new RegExp(tolerance.pattern, 'm').test(textOf(output, tolerance.target))
  const value = typeof primary === 'number' ? primary : Number.NaN
  return value >= tolerance.range[0] && value <= tolerance.range[1]
}
