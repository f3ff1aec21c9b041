import {spawnSync} from 'node:child_process'

/** Wall time of one run of a command, in ms. */
export function timeCommand(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const started = process.hrtime.bigint()
  const result = spawnSync(command, args, {stdio: 'ignore', env})
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.status}`)
  return Number(process.hrtime.bigint() - started) / 1e6
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/**
 * Runs the candidates interleaved (A B C A B C …) so a noisy neighbour slows all of them alike, and returns
 * each one's median.
 */
export function interleaved(candidates: Record<string, () => number>, rounds: number): Record<string, number> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(candidates).map((name) => [name, []]))
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(candidates)) samples[name]!.push(run())
  }
  return Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values)]))
}

export function ratioLine(label: string, value: number, baseline: number, target?: number): string {
  const ratio = value / baseline
  const verdict = target === undefined ? '' : ratio <= target ? `  (target ≤ ${target}: met)` : `  (target ≤ ${target}: MISSED)`
  return `${label.padEnd(44)} ${value.toFixed(0).padStart(7)} ms  vs ${baseline.toFixed(0).padStart(6)} ms  ratio ${ratio.toFixed(2)}${verdict}`
}
