import {BaseCommand} from '../../cli/base-command.js'
import {loadAllLessons} from '../../labs/load.js'
import {prose} from '../../cli/prose.js'

export interface LessonSummary {
  id: string
  title: string
  description: string
  checks: number
}

export default class Labs extends BaseCommand<typeof Labs> {
  static override summary = 'List the lessons that `chaos-lab check` can verify.'
  static override description = prose(`One line per lesson: its id (what \`chaos-lab check\` takes), its title and how many checks it has.
JSON shape: {lessons: [{id, title, description, checks}]}.

Exit codes: 0 listed, 2 a lab definition is invalid.`)

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  run(): Promise<{lessons: LessonSummary[]}> {
    const lessons = loadAllLessons().map((lab) => ({id: lab.lesson, title: lab.title, description: lab.description, checks: lab.checks.length}))
    const width = Math.max(0, ...lessons.map((lesson) => lesson.id.length))
    for (const lesson of lessons) {
      this.log(`${lesson.id.padEnd(width)}  ${lesson.title} (${lesson.checks} ${lesson.checks === 1 ? 'check' : 'checks'})`)
    }
    const first = lessons[0]
    if (first) this.log(`\nSee what a lesson checks: ${this.config.bin} labs show ${first.id}`)
    return Promise.resolve({lessons})
  }
}
