import {BaseCommand} from '../../cli/base-command.js'
import {targetFlags} from '../../cli/flags.js'
import {labsOf, type LabsList, type LessonSummary} from '../../services/labs.js'
import {prose} from '../../cli/prose.js'

function provisionedWord(lesson: LessonSummary): string {
  if (lesson.provisioned === null) return ''
  return lesson.provisioned ? 'provisioned' : `not provisioned (chaos-lab provision --chapters ${lesson.chapter ?? ''})`
}

export default class Labs extends BaseCommand<typeof Labs> {
  static override summary = 'List the lessons that `chaos-lab check` can verify, each with its chapter of the book.'
  static override description = prose(`One line per lesson: its id (what \`chaos-lab check\` takes), the book's chapter it belongs to, its title and
how many checks it has. In a lab folder (or with --target) it also asks the machine which chapters it was
provisioned with and says, per lesson, whether it is there; a machine that does not answer is reported, not an error.
JSON shape: {lessons: [{id, title, description, checks, chapter, provisioned: true|false|null}], machine?: {target, chapters, error?}}.

Exit codes: 0 listed, 2 a lab definition is invalid.`)

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --dir lab --json']

  static override flags = {...targetFlags}

  async run(): Promise<LabsList> {
    const list = await labsOf(this.flags, this.deps())
    const {lessons, machine} = list
    const width = Math.max(0, ...lessons.map((lesson) => lesson.id.length))
    for (const lesson of lessons) {
      const chapter = lesson.chapter === null ? '' : `chapter ${lesson.chapter}  `
      const state = provisionedWord(lesson)
      this.log(`${lesson.id.padEnd(width)}  ${chapter}${lesson.title} (${lesson.checks} ${lesson.checks === 1 ? 'check' : 'checks'})${state ? `  [${state}]` : ''}`)
    }
    if (machine?.error) this.log(`\nCould not ask ${machine.target} which chapters it has: ${machine.error}`)
    else if (machine && machine.chapters === null) this.log(`\n${machine.target} has no provisioning stamps: run chaos-lab provision to know which chapters it has.`)
    const first = lessons[0]
    if (first) this.log(`\nSee what a lesson checks: ${this.config.bin} labs show ${first.id}`)
    return list
  }
}
