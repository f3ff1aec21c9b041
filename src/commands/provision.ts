import {Flags} from '@oclif/core'

import {parseChapterList} from '../config/chapters.js'
import {provision, provisionClass} from '../services/provision.js'
import {labUnlessTarget} from '../services/machine.js'
import {BaseCommand} from '../cli/base-command.js'
import {fleetFlags, profileFlag, targetFlags, verboseFlag} from '../cli/flags.js'
import {prose} from '../cli/prose.js'

export default class Provision extends BaseCommand<typeof Provision> {
  static override summary = 'Install the chapter\'s tools, programs and services in the lab VM (or existing hosts) over SSH.'
  static override description = prose(`Runs the provisioning steps (base, desktop, then one step per chapter of the book: chapter2, chapter3) over SSH.
The chapters are chaos-lab.yaml's \`chapters:\` (default: every chapter chaos-lab provides); --chapters adds
chapters to a lab that is already running, and a chapter the machine has is never redone unless its files changed. Each finished step is stamped in the VM
(/var/lib/chaos-lab/state.json) with a hash of its inputs, so a rerun skips what is unchanged and a run cut off
anywhere (Ctrl-C, lost connection, reboot) picks up where it stopped. The full log is kept in a file; on failure
its path and the failing step's last lines are printed.

JSON: {target, profile, uploaded, changed, steps: [{name, status: done|skipped|failed, durationMs}], durationMs, logFile};
with --inventory: {inventory, hosts: [{host, status: ok|unreachable|error, exitCode, result?, error?}], summary, exitCode}.

Exit codes: 0 provisioned, 2 bad usage or config, 3 a machine could not be reached or a step failed (with
--inventory: the worst host's code).`)

  static override examples = [
    {description: 'Provision the lab folder\'s VM (after `chaos-lab up`, or to repair it)', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Provision an existing Debian/Ubuntu host as the lab machine', command: '<%= config.bin %> <%= command.id %> --target ssh://admin@192.0.2.10:22 --identity ~/.ssh/id_ed25519'},
    {description: 'Provision a whole class, 10 machines at a time', command: '<%= config.bin %> <%= command.id %> --inventory class.ini --concurrency 10'},
    {description: 'Add chapter 3 (Observability) to a running lab; chapter 2 is not redone', command: '<%= config.bin %> <%= command.id %> --chapters 3'},
    {description: 'Redo every step, even unchanged ones', command: '<%= config.bin %> <%= command.id %> --force'},
  ]

  static override flags = {
    ...targetFlags,
    ...fleetFlags,
    profile: profileFlag,
    chapters: Flags.string({description: 'Chapters of the book to add, e.g. 3 or 2,3 (default: chaos-lab.yaml\'s chapters; with --target, or --inventory where --dir has no chaos-lab.yaml: the machine\'s own, every chapter on a new one).', helpValue: 'N,N'}),
    force: Flags.boolean({description: 'Rerun every step, even those whose inputs did not change.', default: false}),
    verbose: verboseFlag,
  }

  async run() {
    const {inventory} = this.flags
    const chapters = this.flags.chapters === undefined ? undefined : parseChapterList(this.flags.chapters)
    if (inventory) {
      const fleet = await provisionClass({...this.flags, inventory, chapters}, this.deps(), {json: this.jsonEnabled()})
      this.log(`${fleet.summary.ok} of ${fleet.summary.total} hosts provisioned; ${fleet.summary.unreachable} unreachable, ${fleet.summary.error} failed.`)
      process.exitCode = fleet.exitCode
      return fleet
    }
    const report = await provision({...this.flags, chapters}, labUnlessTarget(this.flags), this.deps(), {json: this.jsonEnabled()})
    this.log(report.changed
      ? `Provisioned ${report.target} in ${(report.durationMs / 1000).toFixed(1)} s (log: ${report.logFile}).`
      : `${report.target} was already provisioned: nothing changed.`)
    return report
  }
}
