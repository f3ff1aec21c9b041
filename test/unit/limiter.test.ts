import {describe, expect, it} from 'vitest'

import {Limiter} from '../../src/util/limiter.js'

interface Gate {
  promise: Promise<void>
  open: () => void
}

function gate(): Gate {
  let open!: () => void
  const promise = new Promise<void>((resolve) => { open = resolve })
  return {promise, open}
}

describe('the limiter', () => {
  it('never runs more than its limit, even when a caller arrives while a finished job hands its slot on', async () => {
    const limiter = new Limiter(2)
    let running = 0
    let most = 0
    const start = () => {
      running++
      most = Math.max(most, running)
    }
    const held = gate()
    const job = async () => {
      start()
      try {
        await held.promise
      } finally {
        running--
      }
    }
    const first = gate()
    void first.promise.then(() => { running-- })
    // The first job hands the limiter its own promise, so the limiter's wait on it is the next reaction in line.
    const jobs = [limiter.run(() => { start(); return first.promise }), limiter.run(job), limiter.run(job)]
    // This caller arrives right after the limiter sees the first job end, before the waiting third job has woken.
    const late = first.promise.then(() => limiter.run(job))
    first.open()
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(most).toBe(2)
    held.open()
    await Promise.all([...jobs, late])
    expect(running).toBe(0)
  })
})

describe('Limiter.runAlone', () => {
  it('waits for the running jobs, runs with nothing beside it, and is not overtaken by later jobs', async () => {
    const limiter = new Limiter(3)
    const log: string[] = []
    const gates = new Map<string, Gate>()
    const job = (name: string) => () => {
      log.push(`start ${name}`)
      const held = gate()
      gates.set(name, held)
      return held.promise.then(() => { log.push(`end ${name}`) })
    }
    const settle = () => new Promise((resolve) => setTimeout(resolve, 5))
    const done = [limiter.run(job('a')), limiter.run(job('b')), limiter.runAlone(job('alone')), limiter.run(job('c'))]
    await settle()
    expect(log).toEqual(['start a', 'start b'])
    gates.get('a')!.open()
    await settle()
    expect(log).toEqual(['start a', 'start b', 'end a'])
    gates.get('b')!.open()
    await settle()
    expect(log).toEqual(['start a', 'start b', 'end a', 'end b', 'start alone'])
    gates.get('alone')!.open()
    await settle()
    expect(log.slice(-2)).toEqual(['end alone', 'start c'])
    gates.get('c')!.open()
    await Promise.all(done)
  })

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new Limiter(0)).toThrow(RangeError)
    expect(() => new Limiter(1.5)).toThrow(RangeError)
  })
})
