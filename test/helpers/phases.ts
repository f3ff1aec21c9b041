/**
 * A long e2e's own log: `say` prints a line under the file's name, `phase` times a step (printed as it ends and
 * kept in `timings` for a summary at the end). Times are printed, never asserted: speed lives in `npm run bench`.
 */
export interface PhaseLog {
  say: (line: string) => void
  phase: <T>(name: string, body: () => Promise<T>) => Promise<T>
  timings: Array<[string, number]>
}

export function phaseLog(label: string): PhaseLog {
  const say = (line: string) => {
    console.log(`${label}: ${line}`)
  }
  const timings: Array<[string, number]> = []
  async function phase<T>(name: string, body: () => Promise<T>): Promise<T> {
    const started = Date.now()
    try {
      return await body()
    } finally {
      const seconds = (Date.now() - started) / 1000
      timings.push([name, seconds])
      say(`${name}: ${seconds.toFixed(1)} s`)
    }
  }
  return {say, phase, timings}
}
