/**
 * Slots for checks on one SSH connection: at most `limit` checks at a time, and an exclusive check (a behaviour
 * experiment that kills services) runs alone: it waits for the running checks to finish, and later checks wait
 * for it. First come, first served, so an exclusive check is never starved by a stream of shared ones.
 */
export class CheckSlots {
  private active = 0
  private exclusiveActive = false
  private readonly queue: {exclusive: boolean; grant: () => void}[] = []

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`CheckSlots limit must be a positive integer, got ${limit}`)
  }

  async run<T>(exclusive: boolean, job: () => Promise<T>): Promise<T> {
    await new Promise<void>((grant) => {
      this.queue.push({exclusive, grant})
      this.pump()
    })
    try {
      return await job()
    } finally {
      this.active--
      if (exclusive) this.exclusiveActive = false
      this.pump()
    }
  }

  private pump(): void {
    for (;;) {
      const next = this.queue[0]
      if (!next || this.exclusiveActive) return
      if (next.exclusive ? this.active > 0 : this.active >= this.limit) return
      this.queue.shift()
      this.active++
      if (next.exclusive) this.exclusiveActive = true
      next.grant()
    }
  }
}
