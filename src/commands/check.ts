import {Args} from '@oclif/core'

import type {LessonRun} from '../lessons/result.js'
import {exitCodeFor} from '../lessons/runner.js'
import {toJsonRun} from '../report/json.js'
import {formatTable} from '../report/table.js'
import {BaseCommand} from '../cli/base-command.js'
import {checkFlags, fleetFlags, targetFlags, verboseFlag} from '../cli/flags.js'
import {labUnlessTarget} from '../services/machine.js'
import {checkClass, checkLesson, type ClassCheck} from '../services/check.js'
import {prose} from '../cli/prose.js'

export default class Check extends BaseCommand<typeof Check> {
  static override summary = 'Check, over SSH, what you did in a lesson: what passes, what is missing, and a hint for each.'
  static override description = prose(`Runs the lesson's checks (labs/<lesson>/lab.yaml) against the lab VM over one SSH connection: your answers in ~/answers/<lesson>.yaml against the truth computed in the VM, the state of the VM, and small experiments that the check runs itself and cleans up after. Hints say where to look, never the answer.

Each check is PASS, FAIL (work to do), BLOCKED (needs another check to pass first) or ERROR (could not run; never counted as a pass).

--json prints {lesson, target, started, finished, summary: {total, pass, fail, blocked, error}, checks: [{id, title, status, message, hint, durationMs}]}; --junit FILE writes JUnit XML for CI.

A class: --inventory FILE (Ansible INI or YAML) checks every host, --concurrency at a time, one progress line each; --report DIR writes hosts/HOST.json, matrix.csv, junit.xml and report.html (open it in a browser). JSON: {inventory, lesson, hosts: [{host, status: ok|unreachable|error, exitCode, result?: <the shape above>, error?}], summary, exitCode, reportFiles}; the exit code is the worst host's.

Exit codes: 0 every check passed; 1 some check failed, is blocked or could not run (an error is never 0); 2 bad usage or an unknown lesson; 3 the VM could not be reached, or the connection dropped during the run.`)

  static override examples = [
    {description: 'Check chapter 2 in the lab folder\'s VM', command: '<%= config.bin %> <%= command.id %> lesson-2'},
    {description: 'Check an existing host, made with 2048 MB and 2 CPUs', command: '<%= config.bin %> <%= command.id %> lesson-1 --target ssh://chaos@192.0.2.10:22 --identity ~/.ssh/id_ed25519 --memory 2048 --cpus 2'},
    {description: 'Results for CI', command: '<%= config.bin %> <%= command.id %> lesson-2 --junit results.xml --json'},
    {description: 'The whole class, with an HTML report', command: '<%= config.bin %> <%= command.id %> lesson-2 --inventory class.ini --report report/'},
  ]

  static override args = {lesson: Args.string({description: 'The lesson to check, e.g. lesson-2 (`chaos-lab labs` lists them).', required: true})}

  static override flags = {...targetFlags, ...fleetFlags, ...checkFlags, verbose: verboseFlag}

  async run() {
    return this.flags.inventory ? this.checkClass(this.flags.inventory) : this.checkOne()
  }

  private async checkClass(inventory: string): Promise<ClassCheck> {
    const result = await checkClass(this.args.lesson, {...this.flags, inventory}, this.deps(), {json: this.jsonEnabled()})
    this.log(`${this.args.lesson}: ${result.hosts.filter((h) => h.status === 'ok' && h.exitCode === 0).length} of ${result.summary.total} machines pass every check; ${result.summary.unreachable} unreachable.`)
    if (result.reportFiles.length) this.log(`Class report: ${result.reportFiles.find((file) => file.endsWith('.html')) ?? result.reportFiles[0]}`)
    process.exitCode = result.exitCode
    return result
  }

  private async checkOne(): Promise<LessonRun> {
    const say = (line: string) => { if (!this.jsonEnabled()) process.stderr.write(`${line}\n`) }
    const outcome = await checkLesson(this.args.lesson, this.flags, labUnlessTarget(this.flags), this.deps(), {
      onCheckStart: (check) => { if (check.kind === 'behaviour') say(`Running the experiment "${check.title}" (up to ${check.timeoutSec} s)…`) },
    })
    const run = toJsonRun(outcome.run)
    if (!this.jsonEnabled()) process.stdout.write(formatTable(run, {color: process.stdout.isTTY && !process.env.NO_COLOR, width: process.stdout.columns}))
    if (outcome.connectionLost) say('The SSH connection dropped during the run: the checks marked ERROR did not run.')
    process.exitCode = exitCodeFor(outcome)
    return run
  }
}
