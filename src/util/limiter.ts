/**
 * At most `limit` async jobs at a time, first come, first served. A job started with `runAlone` (a behaviour
 * experiment that kills services) runs with nothing beside it: it waits for the running jobs to finish, and later
 * jobs wait for it; it is never starved by a stream of ordinary ones.
 *
 * A slot passes from a finished job straight to the next in the queue (the count never drops in between), so a
 * caller arriving at that moment queues behind it instead of taking the slot too.
 */
export class Limiter {
  private active = 0
  private aloneActive = false
  private readonly queue: {alone: boolean; grant: () => void}[] = []

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`Limiter limit must be a positive integer, got ${limit}`)
  }

  /** Runs `job` when a slot is free. */
  run<T>(job: () => Promise<T>): Promise<T> {
    return this.schedule(false, job)
  }

  /** Runs `job` with no other job of this limiter running. */
  runAlone<T>(job: () => Promise<T>): Promise<T> {
    return this.schedule(true, job)
  }

  private async schedule<T>(alone: boolean, job: () => Promise<T>): Promise<T> {
    await new Promise<void>((grant) => {
      this.queue.push({alone, grant})
      this.pump()
    })
    try {
      return await job()
    } finally {
      this.active--
      if (alone) this.aloneActive = false
      this.pump()
    }
  }

  private pump(): void {
    for (;;) {
      const next = this.queue[0]
      if (!next || this.aloneActive) return
      if (next.alone ? this.active > 0 : this.active >= this.limit) return
      this.queue.shift()
      this.active++
      if (next.alone) this.aloneActive = true
      next.grant()
    }
  }
}
