// The last lines of .ci/run: "N passed, N failed" from vitest's JSON report and vitest's own exit status, counted
// so that it cannot say "0 failed" about a run that did not pass.
//   node --import tsx .ci/summary.ts RESULTS_JSON VITEST_EXIT_STATUS      exits 0 only when nothing failed
// - failed = total - passed (+ broken files): a test without a result (its worker was killed by the OOM killer or
//   a SIGKILL, so the JSON still calls its file "passed"), a skipped test (CI installs every prerequisite) and a
//   failed one all count; a file that failed outside any test (an import error, a crash in beforeAll) adds one.
// - vitest's own verdict counts too: `success: false` or a non-zero exit status with nothing else failed (an
//   unhandled error after the last assertion, which the JSON does not record) is one more failure.
// - no JSON at all (vitest crashed before writing it) is one failure.
// test/unit/ci-summary.test.ts runs crashing fixture test files through this script.
import {existsSync, readFileSync} from 'node:fs'

const [fileArg, rawStatus] = process.argv.slice(2)
const status = Number(rawStatus ?? 'NaN')
if (!fileArg || !Number.isInteger(status)) {
  console.error('usage: node --import tsx .ci/summary.ts RESULTS_JSON VITEST_EXIT_STATUS')
  process.exit(2)
}
const file: string = fileArg

interface Assertion {status: string; title?: string; fullName?: string}
interface FileResult {name: string; status: string; message?: string; assertionResults?: Assertion[]}
interface Report {numTotalTests?: number; numPassedTests?: number; success?: boolean; startTime?: number; testResults?: FileResult[]}

function summarize(): {passed: number; failed: number; notes: string[]} {
  if (!existsSync(file)) return {passed: 0, failed: 1, notes: [`no test report (${file}): vitest ended with status ${status} before writing it`]}
  let report: Report
  try {
    report = JSON.parse(readFileSync(file, 'utf8')) as Report
  } catch (error) {
    return {passed: 0, failed: 1, notes: [`the test report ${file} is not JSON (${(error as Error).message})`]}
  }
  const files = report.testResults ?? []
  const total = report.numTotalTests ?? 0
  const passed = report.numPassedTests ?? 0
  const notes: string[] = []
  const broken = files.filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'))
  for (const f of broken) notes.push(`broken file (failed outside any test): ${f.name}${f.message ? `: ${f.message.split('\n')[0] ?? ''}` : ''}`)
  const noResult = files.flatMap((f) => (f.assertionResults ?? []).filter((a) => a.status !== 'passed' && a.status !== 'failed').map((a) => `${f.name} > ${a.fullName ?? a.title ?? '?'}`))
  if (noResult.length) notes.push(`${noResult.length} test(s) skipped or without a result (a crashed worker leaves them so), each counted as failed: ${noResult.slice(0, 5).join('; ')}${noResult.length > 5 ? '; …' : ''}`)
  let failed = Math.max(0, total - passed) + broken.length
  if (failed === 0 && (report.success === false || status !== 0)) {
    failed = 1
    notes.push(`vitest says the run failed (exit status ${status}, success ${String(report.success)}) though every test passed: an error outside any test (see its output above)`)
  }
  const seconds = report.startTime ? Math.round((Date.now() - report.startTime) / 1000) : 0
  notes.unshift(`tests: ${total} total, ${passed} passed, ${files.length} files, vitest exit status ${status}, ${seconds} s`)
  return {passed, failed, notes}
}

const {passed, failed, notes} = summarize()
for (const note of notes) console.log(note)
console.log(`${passed} passed, ${failed} failed`)
process.exitCode = failed > 0 ? 1 : 0
