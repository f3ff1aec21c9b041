import {describe, expect, it} from 'vitest'

import {fizzbuzz, fizzbuzzCommand, parseProbeOutput, pickNumbers} from '../../src/lessons/kinds/probe.js'
import {parseLesson} from '../../src/lessons/load.js'
import {runLesson} from '../../src/lessons/runner.js'
import {FakeSession} from '../helpers/fake-session.js'

// expect's asymmetric matchers, typed `unknown` so that strict lint accepts them inside object literals.
const like = (pattern: RegExp): unknown => expect.stringMatching(pattern)


/** What `curl -w '\n@@chaos-lab status %{http_code} %{url_effective}\n'` prints for one request. */
function curlOutput(n: string, status: number, body: string): string {
  return `${body}\n@@chaos-lab status ${status} http://127.0.0.1:8003/api/v1/fizzbuzz/${n}\n`
}

/** A fake VM's answer to the probe command: `answer(n)` gives each request's status and body. */
function serve(answer: (n: string) => {status: number; body: string}) {
  return (command: string) => {
    const inputs = [...command.matchAll(/fizzbuzz\/(\w+)/g)].map((match) => match[1] ?? '')
    return {stdout: inputs.map((n) => { const a = answer(n); return curlOutput(n, a.status, a.body) }).join('')}
  }
}

const real = (n: string) => /^\d+$/.test(n)
  ? {status: 200, body: JSON.stringify({n: Number(n), result: fizzbuzz(Number(n)), instance: Number(n) % 2 ? '8001' : '8002'})}
  : {status: 400, body: '{"error":"n must be a whole number"}'}

const LAB = parseLesson(`lesson: l
title: T
description: D
checks:
  - {id: fb, title: FizzBuzz, hint: Ask it., kind: probe, probe: fizzbuzz, url: 'http://127.0.0.1:8003/api/v1/fizzbuzz/'}
`, 'lab.yaml')

async function probe(answer: (n: string) => {status: number; body: string}, random = Math.random) {
  const session = new FakeSession([[/@@chaos-lab/, serve(answer)]])
  const {run} = await runLesson(LAB, session, {target: 'vm', random})
  const [check] = run.checks
  if (!check) throw new Error('one check expected')
  return {check, session}
}

describe('the FizzBuzz probe', () => {
  it('knows FizzBuzz', () => {
    expect([1, 3, 5, 15, 30, 98].map(fizzbuzz)).toEqual(['1', 'Fizz', 'Buzz', 'FizzBuzz', 'FizzBuzz', '98'])
  })

  it('always asks one number of each kind, at random', () => {
    for (const r of [0, 0.3, 0.999]) {
      const numbers = pickNumbers(() => r)
      expect(numbers.map(fizzbuzz).map((x) => (/^\d+$/.test(x) ? 'n' : x))).toEqual(['FizzBuzz', 'Fizz', 'Buzz', 'n'])
      for (const n of numbers) expect(n).toBeGreaterThan(0)
    }
    const seen = new Set(Array.from({length: 20}, () => pickNumbers(Math.random)[0]))
    expect(seen.size).toBeGreaterThan(1)
  })

  it('asks everything in one command and reads the answers back', () => {
    const command = fizzbuzzCommand('http://127.0.0.1:8003/api/v1/fizzbuzz', [15, 'chaos'])
    expect(command).toBe(`curl -s -g --max-time 5 -w '\\n@@chaos-lab status %{http_code} %{url_effective}\\n' http://127.0.0.1:8003/api/v1/fizzbuzz/15 http://127.0.0.1:8003/api/v1/fizzbuzz/chaos`)
    expect(parseProbeOutput(curlOutput('15', 200, '{"result":"FizzBuzz"}') + curlOutput('x', 502, '<html>\n<b>bad</b>\n</html>'))).toEqual([
      {input: '15', status: 200, body: '{"result":"FizzBuzz"}'},
      {input: 'x', status: 502, body: '<html>\n<b>bad</b>\n</html>'},
    ])
  })

  it('passes a real FizzBuzz API and names the instances that answered', async () => {
    const {check, session} = await probe(real)
    expect(check).toMatchObject({status: 'pass', message: like(/^4 random numbers answered right \(by instance (8001 and 8002|8001|8002)\)$/)})
    expect(session.commands).toHaveLength(1)
  })

  it('catches a static server that always says "FizzBuzz"', async () => {
    const {check} = await probe(() => ({status: 200, body: '{"result":"FizzBuzz"}'}))
    expect(check.status).toBe('fail')
    expect(check.message).toMatch(/answered "FizzBuzz", which is not FizzBuzz of \d+/)
  })

  it('catches an API that does not refuse a bad number', async () => {
    const {check} = await probe((n) => (/^\d+$/.test(n) ? real(n) : {status: 200, body: '{"result":"0"}'}))
    expect(check).toMatchObject({status: 'fail', message: 'asked "chaos" (not a number): HTTP 200 instead of 400'})
  })

  it('says what nginx answered when the API is down', async () => {
    const {check} = await probe(() => ({status: 502, body: '<html>Bad Gateway</html>'}))
    expect(check.status).toBe('fail')
    expect(check.message).toMatch(/^asked \d+: HTTP 502; /)
    const {check: refused} = await probe(() => ({status: 0, body: ''}))
    expect(refused.message).toMatch(/nothing answers \(curl could not connect\)/)
  })

  it('fails clearly when it cannot ask at all', async () => {
    const session = new FakeSession([[/@@chaos-lab/, {code: 127, stderr: 'sh: 1: curl: not found\n'}]])
    const {run} = await runLesson(LAB, session, {target: 'vm'})
    expect(run.checks[0]).toMatchObject({status: 'fail', message: 'could not ask the FizzBuzz API (exit code 127: sh: 1: curl: not found)'})
  })

  describe('with the instances behind the load balancer', () => {
    const BALANCED = parseLesson(`lesson: l
title: T
description: D
checks:
  - id: fb
    title: FizzBuzz
    hint: Ask it.
    kind: probe
    probe: fizzbuzz
    url: 'http://127.0.0.1:8003/api/v1/fizzbuzz/'
    instances: ['http://127.0.0.1:8001/api/v1/fizzbuzz/', 'http://127.0.0.1:8002/api/v1/fizzbuzz/']
`, 'lab.yaml')

    /** A VM whose answer depends on the port asked: `answer(port, n)`. */
    async function probeByPort(answer: (port: string, n: string) => {status: number; body: string}) {
      const session = new FakeSession([[/@@chaos-lab/, (command: string) => ({
        stdout: [...command.matchAll(/127\.0\.0\.1:(\d+)\/api\/v1\/fizzbuzz\/(\w+)/g)].map((m) => {
          const a = answer(m[1] ?? '', m[2] ?? '')
          return `${a.body}\n@@chaos-lab status ${a.status} http://127.0.0.1:${m[1] ?? ''}/api/v1/fizzbuzz/${m[2] ?? ''}\n`
        }).join(''),
      })]])
      const {run} = await runLesson(BALANCED, session, {target: 'vm', random: Math.random})
      return {check: run.checks[0], session}
    }
    const api = (instance: string) => (n: string) => /^\d+$/.test(n)
      ? {status: 200, body: JSON.stringify({n: Number(n), result: fizzbuzz(Number(n)), instance})}
      : {status: 400, body: '{"error":"n"}'}
    const behindNginx = (port: string, n: string) => api(port === '8003' ? '8001' : port)(n)

    it('asks the load balancer and each instance directly, with their own random numbers, in one command', async () => {
      const {check, session} = await probeByPort(behindNginx)
      expect(check).toMatchObject({status: 'pass', message: '4 random numbers answered right (by instance 8001), and by 127.0.0.1:8001 and 127.0.0.1:8002 directly'})
      expect(session.commands).toHaveLength(1)
      const asked = [...(session.commands[0] ?? '').matchAll(/:(\d+)\/api\/v1\/fizzbuzz\/(\d+)/g)]
      expect(asked.map((m) => m[1])).toEqual(['8003', '8003', '8003', '8003', '8001', '8001', '8001', '8001', '8002', '8002', '8002', '8002'])
      expect(new Set(asked.map((m) => m[2])).size).toBeGreaterThan(8)
    })

    it('catches instance B dead (`sleep infinity` under its unit\'s name) while nginx retries A for every request', async () => {
      const {check} = await probeByPort((port, n) => (port === '8002' ? {status: 0, body: ''} : behindNginx(port, n)))
      expect(check?.status).toBe('fail')
      expect(check?.message).toMatch(/^127\.0\.0\.1:8002: asked \d+: nothing answers \(curl could not connect\)/)
    })

    it('catches a second port that forwards to the first instance', async () => {
      const {check} = await probeByPort((port, n) => api('8001')(n))
      expect(check).toMatchObject({status: 'fail', message: '127.0.0.1:8001 and 127.0.0.1:8002 answered as the same instance (8001): they must be two instances'})
    })

    it('names the load balancer when only it is wrong', async () => {
      const {check} = await probeByPort((port, n) => (port === '8003' ? {status: 502, body: 'Bad Gateway'} : behindNginx(port, n)))
      expect(check?.message).toMatch(/^127\.0\.0\.1:8003 \(the load balancer\): asked \d+: HTTP 502/)
    })
  })
})
