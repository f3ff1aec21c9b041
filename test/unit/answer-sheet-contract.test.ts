import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'
import {parseDocument} from 'yaml'

import {labFile, listLessonIds, loadLesson, parseLesson} from '../../src/lessons/load.js'
import type {Lesson} from '../../src/lessons/schema.js'

/**
 * The contract between a lesson and the VM: the answer sheet provisioning puts in the learner's home
 * (provisioning/files/<answerSheet>, installed at ~/<answerSheet>) has exactly the keys the lesson's answer checks
 * ask for, in the same order, each empty with its question in a comment above it.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const SHEETS = join(ROOT, 'provisioning', 'files')

function askedKeys(lab: Lesson): string[] {
  return lab.checks.flatMap((check) => (check.kind === 'answer' ? [check.key] : []))
}

/** Everything wrong between a lesson and the sheet text the VM gets; empty when they agree. */
function contractProblems(lab: Lesson, sheet: string): string[] {
  const document = parseDocument(sheet)
  if (document.errors.length > 0) return [`the sheet is not valid YAML: ${document.errors[0]?.message ?? ''}`]
  const values = document.toJS() as Record<string, unknown> | null
  const onSheet = Object.keys(values ?? {})
  const asked = askedKeys(lab)
  const problems: string[] = []
  for (const key of asked) if (!onSheet.includes(key)) problems.push(`${key} is asked by lab.yaml but not on the sheet`)
  for (const key of onSheet) if (!asked.includes(key)) problems.push(`${key} is on the sheet but no check asks for it`)
  if (problems.length === 0 && onSheet.join() !== asked.join()) problems.push(`the sheet's order ${onSheet.join(', ')} is not lab.yaml's ${asked.join(', ')}`)
  for (const key of onSheet) {
    if (values?.[key] !== null) problems.push(`${key} is not empty on the sheet the learner gets`)
    if (!new RegExp(`(^|\\n)# [^\\n]+\\n${key}:`).test(sheet)) problems.push(`${key} has no question in a comment right above it`)
  }
  return problems
}

const lessons = listLessonIds()

describe('the answer sheet contract', () => {
  it('covers the shipped lessons', () => {
    expect(lessons).toEqual(expect.arrayContaining(['lesson-1', 'lesson-2', 'lesson-3']))
    expect(lessons.some((lesson) => askedKeys(loadLesson(lesson)).length > 0)).toBe(true)
  })

  it.each(lessons)('%s: the sheet the VM gets has exactly the keys its answer checks ask for', (lesson) => {
    const lab = loadLesson(lesson)
    if (askedKeys(lab).length === 0) {
      // No answer checks: no sheet either (a stray sheet would ask the learner questions nobody checks).
      expect(lab.answerSheet).toBeUndefined()
      expect(existsSync(join(SHEETS, 'answers', `${lesson}.yaml`))).toBe(false)
      return
    }
    expect(lab.answerSheet).toBe(`answers/${lesson}.yaml`)
    const sheet = readFileSync(join(SHEETS, lab.answerSheet ?? ''), 'utf8')
    expect(contractProblems(lab, sheet)).toEqual([])
  })

  it('every sheet provisioning ships belongs to a lesson that asks for it', () => {
    const sheets = readdirSync(join(SHEETS, 'answers'))
    const asked = lessons.map((lesson) => loadLesson(lesson).answerSheet).filter((sheet) => sheet !== undefined)
    expect(sheets.map((name) => `answers/${name}`).sort()).toEqual([...asked].sort())
  })

  it('fails when a key is added to lab.yaml only, or to the sheet only', () => {
    const lesson = lessons.find((id) => askedKeys(loadLesson(id)).length > 0) ?? ''
    const lab = loadLesson(lesson)
    const sheet = readFileSync(join(SHEETS, lab.answerSheet ?? ''), 'utf8')
    const extraCheck = [
      '  - id: contract-extra',
      '    title: A question only lab.yaml knows',
      '    hint: Nowhere on the sheet.',
      '    kind: answer',
      '    key: contract_extra',
      '    question: Which number?',
      '    expect: {kind: integer, truth: {value: 1}}',
      '',
    ].join('\n')
    const file = labFile(lesson)
    const longer = parseLesson(`${readFileSync(file, 'utf8').trimEnd()}\n${extraCheck}`, file, lesson)
    expect(contractProblems(longer, sheet)).toEqual(['contract_extra is asked by lab.yaml but not on the sheet'])
    expect(contractProblems(lab, `${sheet}\n# A question nobody checks?\nstray:\n`)).toEqual(['stray is on the sheet but no check asks for it'])
    const [first] = askedKeys(lab)
    expect(contractProblems(lab, sheet.replace(`\n${first}:\n`, `\n${first}: 136\n`))).toEqual([`${first} is not empty on the sheet the learner gets`])
  })
})
