import type {ExecResult} from '../../ssh/session.js'
import type {Bound, NumberExpectation, OutputExpectation} from '../schema.js'
import {describeEnd, firstLine, type Params, type Verdict} from './types.js'

function resolveBound(bound: Bound, params: Params): {value: number; why: string} {
  if (typeof bound === 'number') return {value: bound, why: ''}
  const base = params.values[bound.param]
  const value = Math.round(base * bound.factor * 100) / 100
  const share = bound.factor === 1 ? `${bound.param} ${base}` : `${Math.round(bound.factor * 100)}% of ${bound.param} ${base}`
  return {value, why: ` = ${share}, ${params.source}`}
}

function checkNumber(spec: NumberExpectation, stdout: string, params: Params): {ok: boolean; text: string} {
  const label = spec.label ?? 'number'
  const match = new RegExp(spec.pattern, 'm').exec(stdout)
  let value: number
  if (match?.[1] !== undefined && Number.isFinite(Number(match[1]))) value = Number(match[1])
  else if (spec.whenAbsent !== undefined) value = spec.whenAbsent
  else return {ok: false, text: `${label} not found in the output${stdout.trim() ? ` ("${firstLine(stdout)}")` : ' (it printed nothing)'}`}
  const min = spec.min === undefined ? undefined : resolveBound(spec.min, params)
  const max = spec.max === undefined ? undefined : resolveBound(spec.max, params)
  if (min && max && min.value === max.value && value !== min.value) {
    return {ok: false, text: `${label}: ${value} (expected ${min.value}${min.why})`}
  }
  if (min && value < min.value) return {ok: false, text: `${label}: ${value} (expected at least ${min.value}${min.why})`}
  if (max && value > max.value) return {ok: false, text: `${label}: ${value} (expected at most ${max.value}${max.why})`}
  return {ok: true, text: `${label}: ${value}`}
}

function lineWith(stdout: string, re: RegExp): string {
  const match = re.exec(stdout)
  if (!match) return ''
  const start = stdout.lastIndexOf('\n', match.index) + 1
  const end = stdout.indexOf('\n', match.index)
  return firstLine(stdout.slice(start, end === -1 ? undefined : end))
}

/**
 * Holds a command's result against an expectation. Every unmet part is named ("exit code 3 (expected 0);
 * failed requests: 12 (expected at most 0)"), so one run tells the whole story.
 */
export function evaluateOutput(expect: OutputExpectation, result: ExecResult, params: Params, failMessage?: string): Verdict {
  const problems: string[] = []
  if (result.code !== expect.exitCode) {
    const said = firstLine(result.stderr) || firstLine(result.stdout)
    problems.push(`${describeEnd(result)} (expected ${expect.exitCode})${said ? `: ${said}` : ''}`)
  }
  for (const source of expect.stdoutMatches ?? []) {
    if (!new RegExp(source, 'm').test(result.stdout)) {
      problems.push(result.stdout.trim() ? `the output "${firstLine(result.stdout)}" does not match /${source}/` : `the output is empty (expected /${source}/)`)
    }
  }
  for (const source of expect.stdoutNotMatches ?? []) {
    const re = new RegExp(source, 'm')
    if (re.test(result.stdout)) problems.push(`the output has "${lineWith(result.stdout, re)}"`)
  }
  const found: string[] = []
  for (const spec of expect.numbers) {
    const outcome = checkNumber(spec, result.stdout, params)
    if (outcome.ok) found.push(outcome.text)
    else problems.push(outcome.text)
  }
  if (problems.length === 0) return {status: 'pass', message: found.length ? found.join('; ') : 'as expected'}
  const detail = problems.join('; ')
  return {status: 'fail', message: failMessage ? `${failMessage} (${detail})` : detail}
}
