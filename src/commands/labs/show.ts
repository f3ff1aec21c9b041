import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {sheetShownAs} from '../../labs/answers.js'
import {loadLesson} from '../../labs/load.js'
import type {Check, Lab} from '../../labs/schema.js'
import {prose} from '../../cli/prose.js'

export interface ShownCheck {
  id: string
  title: string
  kind: Check['kind']
  /** Answer checks: the question and the answer sheet key it goes under. */
  question?: string
  key?: string
  needs: string[]
}

export interface ShownLesson {
  lesson: string
  title: string
  description: string
  answerSheet?: string
  checks: ShownCheck[]
}

const KIND_WORD: Record<Check['kind'], string> = {answer: 'your answer', state: 'the VM', behaviour: 'experiment', probe: 'the VM'}

/** What a lesson checks, for the learner: titles and questions — never commands, truths or answers. */
export function showLesson(lab: Lab): ShownLesson {
  return {
    lesson: lab.lesson,
    title: lab.title,
    description: lab.description,
    ...(lab.answerSheet ? {answerSheet: sheetShownAs(lab.answerSheet)} : {}),
    checks: lab.checks.map((check) => ({
      id: check.id,
      title: check.title,
      kind: check.kind,
      ...(check.kind === 'answer' ? {question: check.question, key: check.key} : {}),
      needs: [...check.needs],
    })),
  }
}

export default class LabsShow extends BaseCommand<typeof LabsShow> {
  static override summary = 'Show what a lesson checks: each check\'s title and the questions of its answer sheet.'
  static override description = prose(`Prints the checks of one lesson in the order they are reported, with the questions you answer in the
answer sheet (never the answers). JSON shape: {lesson, title, description, answerSheet?, checks: [{id, title,
kind, question?, key?, needs}]}.

Exit codes: 0 shown, 2 unknown lesson or invalid lab definition.`)

  static override examples = ['<%= config.bin %> <%= command.id %> lesson-2', '<%= config.bin %> <%= command.id %> lesson-1 --json']

  static override args = {
    lesson: Args.string({description: 'The lesson, e.g. lesson-2 (`chaos-lab labs` lists them).', required: true}),
  }

  run(): Promise<ShownLesson> {
    const shown = showLesson(loadLesson(this.args.lesson))
    this.log(`${shown.lesson}: ${shown.title}\n`)
    this.log(`${shown.description}\n`)
    if (shown.answerSheet) this.log(`Answers go in ${shown.answerSheet} in the VM.\n`)
    shown.checks.forEach((check, i) => {
      this.log(`${String(i + 1).padStart(2)}. ${check.title} [${KIND_WORD[check.kind]}]`)
      if (check.question) this.log(`    ${check.question} (${check.key})`)
      if (check.needs.length) this.log(`    after: ${check.needs.join(', ')}`)
    })
    this.log(`\nRun it: ${this.config.bin} check ${shown.lesson}`)
    return Promise.resolve(shown)
  }
}
