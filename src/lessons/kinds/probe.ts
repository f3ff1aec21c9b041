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

/** One request of a probe: a base URL and what to append to it. */
export interface ProbeRequest {
  url: string
  input: number | string
}

/**
 * One curl asks everything (one process on the machine, not one per number): each answer's body, then
 * `@@chaos-lab status CODE URL` (CODE 000: no connection). curl asks the URLs in order, so the answers come back
 * in the order of `requests`.
 */
export function probeCommand(requests: readonly ProbeRequest[]): string {
  const urls = requests.map(({url, input}) => shellQuote(`${url.endsWith('/') ? url : `${url}/`}${encodeURIComponent(String(input))}`))
  return `curl -s -g --max-time 5 -w '\\n${MARK} status %{http_code} %{url_effective}\\n' ${urls.join(' ')}`
}

export function fizzbuzzCommand(url: string, inputs: readonly (number | string)[]): string {
  return probeCommand(inputs.map((input) => ({url, input})))
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

/** The instance an answer says it came from (the API's "instance" field), if it says. */
function instanceOf(answer: ProbeAnswer): string | undefined {
  try {
    const instance = (JSON.parse(answer.body) as {instance?: unknown}).instance
    return typeof instance === 'string' || typeof instance === 'number' ? String(instance) : undefined
  } catch {
    return undefined
  }
}

/** "127.0.0.1:8001" for http://127.0.0.1:8001/api/v1/fizzbuzz/: how a target is named in messages. */
function hostOf(url: string): string {
  return /^http:\/\/([^/]+)/.exec(url)?.[1] ?? url
}

/**
 * Asks the load balancer (check.url) and, directly, every instance behind it (check.instances) four random
 * numbers each plus a bad input, in one command. Every target must compute FizzBuzz; the instances must each
 * answer, as different instances: a unit running `sleep infinity`, or a second port that forwards to the first,
 * cannot hide behind a load balancer that quietly retries the one working instance.
 */
async function probeFizzbuzz(check: ProbeCheck, ctx: CheckContext): Promise<Verdict> {
  const targets = [check.url, ...check.instances].map((url) => ({url, numbers: pickNumbers(() => ctx.random())}))
  const requests = targets.flatMap(({url, numbers}) => [...numbers, BAD_INPUT].map((input) => ({url, input})))
  const result = await ctx.exec(probeCommand(requests))
  const answers = parseProbeOutput(result.stdout)
  if (answers.length === 0) {
    const said = firstLine(result.stderr) || firstLine(result.stdout)
    return {status: 'fail', message: `could not ask the FizzBuzz API (${describeEnd(result)}${said ? `: ${said}` : ''})`}
  }
  const problems: string[] = []
  const identities = new Map<string, Set<string>>()
  let at = 0
  for (const [index, target] of targets.entries()) {
    const mine = answers.slice(at, at + target.numbers.length + 1)
    at += target.numbers.length + 1
    const prefix = check.instances.length ? `${hostOf(target.url)}${index === 0 ? ' (the load balancer)' : ''}: ` : ''
    const found: string[] = []
    target.numbers.forEach((n, i) => {
      const problem = judge(n, mine[i])
      if (problem) found.push(problem)
    })
    const bad = mine[target.numbers.length]
    if (!found.length && bad?.status !== 400) {
      found.push(`asked "${BAD_INPUT}" (not a number): HTTP ${bad?.status ?? 'no answer'} instead of 400`)
    }
    problems.push(...found.map((problem) => prefix + problem))
    identities.set(target.url, new Set(mine.flatMap((answer) => instanceOf(answer) ?? [])))
  }
  if (!problems.length && check.instances.length > 1) {
    const names = check.instances.map((url) => [...(identities.get(url) ?? [])].sort().join('+'))
    const seen = new Map<string, string>()
    check.instances.forEach((url, i) => {
      const name = names[i] ?? ''
      const other = seen.get(name)
      if (name && other) problems.push(`${hostOf(other)} and ${hostOf(url)} answered as the same instance (${name}): they must be two instances`)
      else seen.set(name, url)
    })
  }
  if (problems.length) return {status: 'fail', message: problems.join('; ')}
  const balanced = [...(identities.get(check.url) ?? [])].sort()
  const by = balanced.length ? ` (by instance ${balanced.join(' and ')})` : ''
  const direct = check.instances.length ? `, and by ${check.instances.map(hostOf).join(' and ')} directly` : ''
  return {status: 'pass', message: `${targets[0]?.numbers.length ?? 0} random numbers answered right${by}${direct}`}
}

export const runProbe: CheckRunner<ProbeCheck> = async (check, ctx) => {
  switch (check.probe) {
    case 'fizzbuzz': return probeFizzbuzz(check, ctx)
  }
}
