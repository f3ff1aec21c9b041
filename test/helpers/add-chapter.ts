import {expect} from 'vitest'

import {runCli, type CliResult} from './cli.js'

const MINUTE = 60_000

interface StepJson {name: string; status: string; durationMs: number}

/**
 * `provision --chapters N` on a machine that has other chapters: only chapter N's step runs (base and the chapters
 * it has are skipped), the machine then has `expectChapters`, and a rerun without --chapters (a --target keeps
 * the machine's own chapters) changes nothing. Returns the runs and the step's time, for the caller to print.
 */
export async function addChapterAlone(options: {
  chapter: number
  expectChapters: number[]
  target: string[]
  env: Record<string, string>
  phase: <T>(name: string, run: () => Promise<T>) => Promise<T>
}): Promise<{added: CliResult; again: CliResult; stepSeconds: number; summary: string}> {
  const {chapter, target, env, phase} = options
  const added = await phase(`provision --chapters ${chapter} (adds chapter ${chapter})`, () => runCli(['provision', ...target, '--chapters', String(chapter), '--json'], {env, timeoutMs: 20 * MINUTE}))
  expect(added.code, added.stdout + added.stderr).toBe(0)
  const steps = Object.fromEntries((added.json.steps as StepJson[]).map((s) => [s.name, s]))
  const others = ['base', ...options.expectChapters.filter((c) => c !== chapter).map((c) => `chapter${c}`)]
  expect(Object.fromEntries([...others, `chapter${chapter}`].map((name) => [name, steps[name]?.status]))).toEqual(Object.fromEntries([...others.map((name) => [name, 'skipped']), [`chapter${chapter}`, 'done']]))
  expect(added.json.chapters).toEqual(options.expectChapters)
  const again = await runCli(['provision', ...target, '--json'], {env, timeoutMs: 10 * MINUTE})
  expect(again.code, again.stderr).toBe(0)
  expect(again.json.changed).toBe(false)
  const stepSeconds = (steps[`chapter${chapter}`]?.durationMs ?? 0) / 1000
  const summary = `chapter${chapter} step: ${stepSeconds.toFixed(1)} s (whole run ${(added.ms / 1000).toFixed(1)} s); no-op rerun ${(again.ms / 1000).toFixed(1)} s = ${((100 * again.ms) / added.ms).toFixed(0)}% of it`
  return {added, again, stepSeconds, summary}
}
