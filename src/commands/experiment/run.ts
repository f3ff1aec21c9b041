import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {targetFlags} from '../../cli/flags.js'
import {prose} from '../../cli/prose.js'
import type {Journal} from '../../experiments/journal.js'
import {whySummary} from '../../experiments/load.js'
import {LOAD_GENERATORS} from '../../experiments/schema.js'
import {LiveView} from '../../report/experiment-live.js'
import {runExperimentOn} from '../../services/experiment.js'
import {labUnlessTarget} from '../../services/machine.js'
import {isTerminal} from '../../ui/terminal.js'

export default class ExperimentRun extends BaseCommand<typeof ExperimentRun> {
  static override summary = 'Run a chaos experiment against the lab VM: load, hypothesis, method, rollbacks, a live chart and a journal.'
  static override description = prose(`Runs a Chaos Toolkit experiment (labs/<lesson>/experiments/NAME.yaml, or a file) in the lab VM over SSH: a load generator (10 clients, as the book's ab) through the load balancer, the steady-state hypothesis before, the method (each kill marked), the hypothesis after, then the rollbacks — always, also after a deviation, a failure or Ctrl-C, so the lab is left as it was found.

In a terminal a chart of requests per second (successful, failed or non-2xx) and latency (p50, p95) is redrawn every second; in CI and with --json, plain lines on stderr. --json prints the journal in Chaos Toolkit's shape (experiment, status, deviated, steady_states, run, rollbacks, start, end, duration; chaos-lab's load figures and marks under "chaos-lab"). --report DIR writes report.html (the chart over time; open it in a browser) and journal.json.

Exit codes: 0 the hypothesis held; 1 it deviated (or the steady state was not met before the method); 2 bad usage or an invalid experiment; 3 the VM could not be reached or driven (or an action of the method failed: no verdict); 130 interrupted (Ctrl-C), after the rollbacks.`)

  static override examples = [
    {description: 'Chapter 2\'s killer while, live', command: '<%= config.bin %> <%= command.id %> killer-while'},
    {description: 'With an HTML report', command: '<%= config.bin %> <%= command.id %> killer-while --report report/'},
    {description: 'The same load as the book\'s run_ab.sh (ab -c 10 -l), counted per second', command: '<%= config.bin %> <%= command.id %> killer-while --generator ab'},
    {description: 'An existing host, the journal on stdout', command: '<%= config.bin %> <%= command.id %> killer-while --target ssh://chaos@192.0.2.10:22 --identity ~/.ssh/id_ed25519 --json'},
  ]

  static override args = {name: Args.string({description: 'The experiment: a name from `chaos-lab experiment list`, or a file.', required: true})}
  static override flags = {
    ...targetFlags,
    report: Flags.string({description: 'Write report.html and journal.json into this folder.', helpValue: 'DIR'}),
    generator: Flags.option({
      description: 'Who makes the load\'s requests: the book\'s ab (its own summary becomes the run\'s totals; no latency per second) or chaos-lab\'s sampler (the default of the lesson\'s experiments).',
      options: LOAD_GENERATORS,
    })(),
  }

  async run(): Promise<Journal> {
    const tty = isTerminal(process.stderr) && process.env.CI !== 'true' && !this.jsonEnabled()
    const view = new LiveView({write: (text: string) => process.stderr.write(text), columns: process.stderr.columns}, tty, tty && !process.env.NO_COLOR)
    const controller = new AbortController()
    const onSigint = () => { if (controller.signal.aborted) process.stderr.write('Still running the rollbacks: the lab is being put back.\n'); else controller.abort() }
    process.on('SIGINT', onSigint)
    const outcome = await runExperimentOn(this.args.name, this.flags, labUnlessTarget(this.flags), this.deps(), {onEvent: view.onEvent, signal: controller.signal})
      .finally(() => { process.off('SIGINT', onSigint); view.close() })
    const {journal} = outcome
    const lab = journal['chaos-lab']
    const totals = lab.load?.totals
    this.log(`\nHypothesis before: ${lab.hypothesis.before}; after: ${lab.hypothesis.after}. ${lab.summary[0]?.toUpperCase() ?? ''}${lab.summary.slice(1)}.`)
    const what = whySummary(lab.load?.seconds ?? [])
    if (totals) this.log(`Load generator (${lab.load?.generator === 'ab' ? 'ab, its own summary' : 'sampler'}): ${totals.requests} requests, ${totals.ok} ok, ${totals.non2xx} non-2xx, ${totals.failed} failed${what ? ` (${what})` : ''}.`)
    for (const file of outcome.reportFiles) this.log(`Wrote ${file}`)
    process.exitCode = outcome.exitCode
    return journal
  }
}
