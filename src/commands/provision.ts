import {Flags} from '@oclif/core'

import {provisionFleet, provisionTarget} from '../lifecycle/provision.js'
import {BaseCommand} from '../cli/base-command.js'
import {fleetFlags, profileFlag, targetFlags, verboseFlag} from '../cli/flags.js'
import {prose} from '../cli/prose.js'

export default class Provision extends BaseCommand<typeof Provision> {
  static override summary = 'Install the chapter\'s tools, programs and services in the lab VM (or existing hosts) over SSH.'
  static override description = prose(`Runs the provisioning steps (base, desktop, chapter2) over SSH. Each finished step is stamped in the VM
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
    {description: 'Redo every step, even unchanged ones', command: '<%= config.bin %> <%= command.id %> --force'},
  ]

  static override flags = {
    ...targetFlags,
    ...fleetFlags,
    profile: profileFlag,
    force: Flags.boolean({description: 'Rerun every step, even those whose inputs did not change.', default: false}),
    verbose: verboseFlag,
  }

  async run() {
    const {inventory} = this.flags
    if (inventory) {
      const fleet = await provisionFleet({...this.flags, inventory}, this.deps(), {json: this.jsonEnabled()})
      this.log(`${fleet.summary.ok} of ${fleet.summary.total} hosts provisioned; ${fleet.summary.unreachable} unreachable, ${fleet.summary.error} failed.`)
      process.exitCode = fleet.exitCode
      return fleet
    }
    const report = await provisionTarget(this.flags, this.deps(), {json: this.jsonEnabled()})
    this.log(report.changed
      ? `Provisioned ${report.target} in ${(report.durationMs / 1000).toFixed(1)} s (log: ${report.logFile}).`
      : `${report.target} was already provisioned: nothing changed.`)
    return report
  }
}
