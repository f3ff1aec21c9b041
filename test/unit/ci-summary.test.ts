// .ci/run's last lines come from .ci/summary.ts. Here crashing fixture test files (test/fixtures/ci-summary, not
// part of the suite) run through vitest exactly as CI runs the suite (JSON report + exit status), then through
// the same script: a crashed worker or an error after the last assertion must never read "0 failed".
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

const root = join(import.meta.dirname, '..', '..')
const scratch = mkdtempSync(join(tmpdir(), 'chaos-lab-ci-summary-'))

/** Runs one fixture file with vitest's JSON reporter, then .ci/summary.ts on its report and exit status. */
function throughCi(fixture: string): {vitestStatus: number | null; report: {success: boolean; numPassedTests: number}; summary: string; status: number | null} {
  const results = join(scratch, `${fixture}.json`)
  const vitest = spawnSync(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', join(root, 'test', 'fixtures', 'ci-summary', 'vitest.config.ts'), `--outputFile.json=${results}`], {
    cwd: root, encoding: 'utf8', timeout: 120_000, env: {...process.env, CHAOS_LAB_FIXTURE: `${fixture}.fixture.ts`},
  })
  const report = JSON.parse(readFileSync(results, 'utf8')) as {success: boolean; numPassedTests: number}
  const summary = spawnSync(process.execPath, ['--import', 'tsx', join(root, '.ci', 'summary.ts'), results, String(vitest.status)], {encoding: 'utf8', timeout: 30_000})
  return {vitestStatus: vitest.status, report, summary: summary.stdout + summary.stderr, status: summary.status}
}

describe('.ci/run\'s summary cannot lie', () => {
  it('a worker killed mid-file (its JSON says "passed", success true): every test without a result is a failure', () => {
    const run = throughCi('worker-killed')
    // What the old counting read: a passed file, no failed test, success.
    expect(run.report.success).toBe(true)
    expect(run.summary).toMatch(/^0 passed, 2 failed$/m)
    expect(run.status).toBe(1)
  }, 150_000)

  it('an unhandled error after the last assertion (every test passed, only vitest\'s exit status tells)', () => {
    const run = throughCi('unhandled-error')
    expect(run.report).toMatchObject({success: true, numPassedTests: 2})
    expect(run.vitestStatus).not.toBe(0)
    expect(run.summary).toMatch(/^2 passed, 1 failed$/m)
    expect(run.summary).toMatch(/error outside any test/)
    expect(run.status).toBe(1)
  }, 150_000)

  it('a clean run is "N passed, 0 failed" and exits 0; a missing report is a failure', () => {
    const run = throughCi('passing')
    expect(run.summary).toMatch(/^1 passed, 0 failed$/m)
    expect(run.status).toBe(0)
    const missing = spawnSync(process.execPath, ['--import', 'tsx', join(root, '.ci', 'summary.ts'), join(scratch, 'none.json'), '1'], {encoding: 'utf8'})
    expect(missing.stdout).toMatch(/^0 passed, 1 failed$/m)
    expect(missing.status).toBe(1)
  }, 150_000)

  it('.ci/run exports CI=true itself and counts with this script', () => {
    const ci = readFileSync(join(root, '.ci', 'run'), 'utf8')
    expect(ci).toMatch(/^export CI=true$/m)
    expect(ci).toMatch(/^node --import tsx \.ci\/summary\.ts "\$results" "\$status" \|\| status=1$/m)
  })
})
