/**
 * Last-resort cleanup: VMs are daemonized QEMU processes and containers hold mounts, network namespaces and
 * cgroups, none of which die with the test process. Every machine registers a synchronous teardown here;
 * stop() unregisters it. Whatever is still registered when the process exits (a crashed test, a missing
 * afterAll, Ctrl-C) is torn down then.
 */
const pending = new Map<number, () => void>()
let nextId = 1
let installed = false

function runAll(): void {
  for (const [id, teardown] of [...pending]) {
    pending.delete(id)
    try {
      teardown()
    } catch {
      // Best effort: the process is going away.
    }
  }
}

function install(): void {
  if (installed) return
  installed = true
  process.on('exit', runAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      runAll()
      // Our listener is gone now (once), so this second delivery ends the process as the signal would have.
      process.kill(process.pid, signal)
    })
  }
}

/** Registers a synchronous teardown; returns the function that unregisters it. */
export function registerTeardown(teardown: () => void): () => void {
  install()
  const id = nextId++
  pending.set(id, teardown)
  return () => {
    pending.delete(id)
  }
}
