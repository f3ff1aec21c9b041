import {machineStatus} from '../lifecycle/machine.js'
import {BaseCommand} from './base.js'

export default class Status extends BaseCommand<typeof Status> {
  static override summary = 'Show whether the lab VM exists and runs, and which snapshots it has.'
  static override description = `Reads \`vagrant status\` (or, for provider ssh, tries to connect).
JSON shape: {dir, provider, machine, state, snapshots}. State is Vagrant's (running, poweroff, shutoff,
not_created…) or reachable/unreachable for provider ssh.

Exit codes: 0 status read, 2 bad usage or config, 3 Vagrant could not be driven.`

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --dir ~/chaos-lab --json']

  async run() {
    const status = await machineStatus(this.flags.dir, this.deps())
    this.log(`${status.machine} (${status.provider}): ${status.state}`)
    if (status.snapshots.length) this.log(`snapshots: ${status.snapshots.join(', ')}`)
    return status
  }
}
