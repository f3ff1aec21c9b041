import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import type {Check} from '../../lessons/schema.js'
import {showLesson, type ShownLesson} from '../../services/labs.js'
import {prose} from '../../cli/prose.js'

const KIND_WORD: Record<Check['kind'], string> = {answer: 'your answer', state: 'the VM', behaviour: 'experiment', probe: 'the VM', experiment: 'experiment'}

export default class LabsShow extends BaseCommand<typeof LabsShow> {
  static override summary = 'Show what a lesson checks: each check\'s title and the questions of its answer sheet.'
  static override description = prose(`Prints the checks of one lesson in the order they are reported, with the questions you answer in the
answer sheet (never the answers). JSON shape: {lesson, chapter, title, description, answerSheet?, checks: [{id, title,
kind, question?, key?, needs, profile?}], differences: [{topic, book, lab}]}.

Exit codes: 0 shown, 2 unknown lesson or invalid lab definition.`)

  static override examples = ['<%= config.bin %> <%= command.id %> lesson-2', '<%= config.bin %> <%= command.id %> lesson-1 --json']

  static override args = {
    lesson: Args.string({description: 'The lesson, e.g. lesson-2 (`chaos-lab labs` lists them).', required: true}),
  }

  run(): Promise<ShownLesson> {
    const shown = showLesson(this.args.lesson)
    this.log(`${shown.lesson}${shown.chapter === null ? '' : ` (chapter ${shown.chapter})`}: ${shown.title}\n`)
    this.log(`${shown.description}\n`)
    if (shown.answerSheet) this.log(`Answers go in ${shown.answerSheet} in the VM.\n`)
    if (shown.differences.length) {
      this.log('Where this lab differs from the book:')
      for (const d of shown.differences) this.log(`  - ${d.topic}: the book: ${d.book}; here: ${d.lab}`)
      this.log('')
    }
    shown.checks.forEach((check, i) => {
      this.log(`${String(i + 1).padStart(2)}. ${check.title} [${KIND_WORD[check.kind]}${check.profile ? `, ${check.profile} profile only` : ''}]`)
      if (check.question) this.log(`    ${check.question} (${check.key})`)
      if (check.needs.length) this.log(`    after: ${check.needs.join(', ')}`)
    })
    this.log(`\nRun it: ${this.config.bin} check ${shown.lesson}`)
    return Promise.resolve(shown)
  }
}
