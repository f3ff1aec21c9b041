import {LabFolder} from '../config/lab-folder.js'
import {classStatus, labStatus} from '../services/status.js'
import {BaseCommand} from '../cli/base-command.js'
import {fleetFlags, verboseFlag} from '../cli/flags.js'
import {prose} from '../cli/prose.js'

export default class Status extends BaseCommand<typeof Status> {
  static override summary = 'Show whether the lab VM exists and runs, and which snapshots it has.'
  static override description = prose(`Reads \`vagrant status\` (or, for provider ssh, tries to connect).
JSON shape: {dir, provider, machine, state, snapshots}. State is Vagrant's (running, poweroff, shutoff,
not_created…) or reachable/unreachable for provider ssh. With --inventory: every host's reachability and
provisioning steps, {inventory, hosts: [{host, status, exitCode, result: {provisioned, uptimeSeconds}}], summary, exitCode}.

Exit codes: 0 status read, 2 bad usage or config, 3 Vagrant could not be driven (with --inventory: a host unreachable).`)

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --dir ~/chaos-lab --json',
    {description: 'Who in the class is reachable and provisioned', command: '<%= config.bin %> <%= command.id %> --inventory class.ini'},
  ]

  static override flags = {...fleetFlags, verbose: verboseFlag}

  async run() {
    const {inventory} = this.flags
    if (inventory) {
      const fleet = await classStatus({...this.flags, inventory}, this.deps(), {json: this.jsonEnabled()})
      this.log(`${fleet.summary.ok} of ${fleet.summary.total} machines reachable.`)
      process.exitCode = fleet.exitCode
      return fleet
    }
    const status = await labStatus(LabFolder.load(this.flags.dir), this.deps())
    this.log(`${status.machine} (${status.provider}): ${status.state}`)
    if (status.snapshots.length) this.log(`snapshots: ${status.snapshots.join(', ')}`)
    return status
  }
}
