import {mkdir} from 'node:fs/promises'
import {join} from 'node:path'

import {writeAtomically} from '../util/files.js'
import {renderCsv} from './csv.js'
import {renderHtml} from './html.js'
import {formatClassJunit} from './junit.js'
import {buildMatrix, hostStatusWord, type ClassRun, type ReportedHost} from './matrix.js'

export type {ClassRun} from './matrix.js'

/**
 * The class report of `check LESSON --inventory F --report DIR`: one JSON per host, the CSV matrix (csv.ts),
 * JUnit (junit.ts) and one self-contained HTML page (html.ts). It reads only the outcomes given and writes only
 * inside DIR.
 */

export const REPORT_FILES = {csv: 'matrix.csv', junit: 'junit.xml', html: 'report.html', hostsDir: 'hosts'} as const

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i

/** A host name as a file name: only [A-Za-z0-9._-], no leading dot, unique even on case-insensitive disks. */
export function safeFileNames(hosts: readonly string[]): string[] {
  const used = new Set<string>()
  return hosts.map((host) => {
    let base = host.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\./, '_').slice(0, 100) || '_'
    if (WINDOWS_RESERVED.test(base)) base = `_${base}`
    let name = base
    for (let n = 2; used.has(name.toLowerCase()); n++) name = `${base}-${n}`
    used.add(name.toLowerCase())
    return name
  })
}

/** hosts/<host>.json: {lesson, host, status: checked|unreachable|error, error?, run?} (run: the checks that ran). */
function hostFile(lesson: string, outcome: ReportedHost): string {
  const file = {lesson, host: outcome.host, status: hostStatusWord(outcome), error: outcome.error, run: outcome.result}
  return `${JSON.stringify(file, null, 2)}\n`
}

/** Writes hosts/<host>.json, matrix.csv, junit.xml and report.html into dir; returns the paths written. */
export async function writeClassReport(dir: string, run: ClassRun): Promise<{files: string[]}> {
  const hostsDir = join(dir, REPORT_FILES.hostsDir)
  await mkdir(hostsDir, {recursive: true})
  const matrix = buildMatrix(run)
  const files: string[] = []
  const names = safeFileNames(run.hosts.map((outcome) => outcome.host))
  for (const [index, outcome] of run.hosts.entries()) {
    const file = join(hostsDir, `${names[index] ?? `host-${index}`}.json`)
    await writeAtomically(file, hostFile(run.lesson, outcome))
    files.push(file)
  }
  const outputs: [string, string][] = [
    [REPORT_FILES.csv, renderCsv(matrix)],
    [REPORT_FILES.junit, formatClassJunit(run)],
    [REPORT_FILES.html, renderHtml(run, matrix)],
  ]
  for (const [name, contents] of outputs) {
    const file = join(dir, name)
    await writeAtomically(file, contents)
    files.push(file)
  }
  return {files}
}
