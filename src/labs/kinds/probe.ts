import {shellQuote} from '../../util/shell.js'
import type {ProbeCheck} from '../schema.js'
import {describeEnd, firstLine, type CheckContext, type CheckRunner, type Verdict} from './types.js'

/** FizzBuzz as the book defines it: "Fizz" for multiples of 3, "Buzz" of 5, "FizzBuzz" of both, else N. */
export function fizzbuzz(n: number): string {
  if (n % 15 === 0) return 'FizzBuzz'
  if (n % 3 === 0) return 'Fizz'
  if (n % 5 === 0) return 'Buzz'
  return String(n)
}

const RESIDUES = {
  fizzbuzz: [0],
  fizz: [3, 6, 9, 12],
  buzz: [5, 10],
  number: [1, 2, 4, 7, 8, 11, 13, 14],
} as const

/**
 * Four random numbers, one of each kind of answer, so that a server that always says the same thing (a static
 * file, a stub) is always caught, and a real one is asked numbers it cannot have memorised.
 */
export function pickNumbers(random: () => number): number[] {
  const pick = (items: readonly number[]): number => items[Math.min(items.length - 1, Math.floor(random() * items.length))] ?? 0
  return Object.values(RESIDUES).map((residues) => 15 * (1 + Math.floor(random() * 600)) + pick(residues))
}

/** Not a number: the API must refuse it with 400. */
export const BAD_INPUT = 'chaos'
const MARK = '@@chaos-lab'

/**
 * One curl asks everything (one process on the machine, not one per number): each answer's body, then
 * `@@chaos-lab status CODE URL` (CODE 000: no connection).
 */
export function fizzbuzzCommand(url: string, inputs: readonly (number | string)[]): string {
  const base = url.endsWith('/') ? url : `${url}/`
  const urls = inputs.map((input) => shellQuote(`${base}${encodeURIComponent(String(input))}`))
  return `curl -s -g --max-time 5 -w '\\n${MARK} status %{http_code} %{url_effective}\\n' ${urls.join(' ')}`
}

export interface ProbeAnswer {
  input: string
  status: number | undefined
  body: string
}

export function parseProbeOutput(stdout: string): ProbeAnswer[] {
  const answers: ProbeAnswer[] = []
  let body = ''
  const end = new RegExp(`^${MARK} status (\\d+) (\\S+)$`)
  for (const line of stdout.split('\n')) {
    const match = end.exec(line)
    if (match) {
      const input = decodeURIComponent(match[2]?.split('/').pop() ?? '')
      answers.push({input, status: Number(match[1]), body: body.replace(/\n+$/, '')})
      body = ''
    } else if (line || body) {
      body += body ? `\n${line}` : line
    }
  }
  return answers
}

function judge(n: number, answer: ProbeAnswer | undefined): string | undefined {
  if (!answer || answer.status === undefined) return `asked ${n}: no answer`
  if (answer.status === 0) return `asked ${n}: nothing answers (curl could not connect)`
  if (answer.status !== 200) return `asked ${n}: HTTP ${answer.status}`
  let body: unknown
  try {
    body = JSON.parse(answer.body)
  } catch {
    return `asked ${n}: the answer is not JSON ("${firstLine(answer.body, 60)}")`
  }
  const {n: echoed, result} = (body ?? {}) as {n?: unknown; result?: unknown}
  if (result !== fizzbuzz(n)) return `asked ${n}: answered ${JSON.stringify(result)}, which is not FizzBuzz of ${n}`
  if (echoed !== n && echoed !== String(n)) return `asked ${n}: the answer is about n=${JSON.stringify(echoed)}`
  return undefined
}

async function probeFizzbuzz(check: ProbeCheck, ctx: CheckContext): Promise<Verdict> {
  const numbers = pickNumbers(() => ctx.random())
  const result = await ctx.exec(fizzbuzzCommand(check.url, [...numbers, BAD_INPUT]))
  const answers = parseProbeOutput(result.stdout)
  if (answers.length === 0) {
    const said = firstLine(result.stderr) || firstLine(result.stdout)
    return {status: 'fail', message: `could not ask the FizzBuzz API (${describeEnd(result)}${said ? `: ${said}` : ''})`}
  }
  const problems: string[] = []
  numbers.forEach((n, i) => {
    const problem = judge(n, answers[i])
    if (problem) problems.push(problem)
  })
  const bad = answers[numbers.length]
  if (!problems.length && bad?.status !== 400) {
    problems.push(`asked "${BAD_INPUT}" (not a number): HTTP ${bad?.status ?? 'no answer'} instead of 400`)
  }
  const instances = new Set(answers.flatMap((answer) => {
    try {
      const instance = (JSON.parse(answer.body) as {instance?: unknown}).instance
      return typeof instance === 'string' || typeof instance === 'number' ? [String(instance)] : []
    } catch {
      return []
    }
  }))
  if (problems.length) return {status: 'fail', message: problems.join('; ')}
  return {status: 'pass', message: `${numbers.length} random numbers answered right${instances.size ? ` (by instance ${[...instances].sort().join(' and ')})` : ''}`}
}

export const runProbe: CheckRunner<ProbeCheck> = async (check, ctx) => {
  switch (check.probe) {
    case 'fizzbuzz': return probeFizzbuzz(check, ctx)
  }
}
