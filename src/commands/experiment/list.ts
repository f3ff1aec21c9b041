import {BaseCommand} from '../../cli/base-command.js'
import {prose} from '../../cli/prose.js'
import {listExperiments, type ExperimentSummary} from '../../services/experiment.js'

export default class ExperimentList extends BaseCommand<typeof ExperimentList> {
  static override summary = 'List the lab\'s chaos experiments (labs/<lesson>/experiments/*.yaml).'
  static override description = prose(`One line per experiment: its name (what \`chaos-lab experiment run\` takes), its lesson and title.
JSON shape: {experiments: [{name, lesson, title, description, file}]}.

Exit codes: 0 listed, 2 an experiment file is invalid.`)

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  run(): Promise<{experiments: ExperimentSummary[]}> {
    const experiments = listExperiments()
    const width = Math.max(0, ...experiments.map((experiment) => experiment.name.length))
    for (const experiment of experiments) this.log(`${experiment.name.padEnd(width)}  ${experiment.lesson}  ${experiment.title}`)
    const first = experiments[0]
    if (first) this.log(`\nRun one against the lab VM: ${this.config.bin} experiment run ${first.name}`)
    return Promise.resolve({experiments})
  }
}
