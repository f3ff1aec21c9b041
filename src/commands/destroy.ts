import {Flags} from '@oclif/core'

import {destroyMachine, labForDestroy} from '../lifecycle/machine.js'
import {BaseCommand} from '../cli/base-command.js'
import {verboseFlag} from '../cli/flags.js'
import {prose} from '../cli/prose.js'

export default class Destroy extends BaseCommand<typeof Destroy> {
  static override summary = 'Delete the lab VM and its disk, including everything done inside it.'
  static override description = prose(`Runs \`vagrant destroy\` after asking. In scripts pass --force; without a terminal and without --force it
refuses (exit 2), so nothing is deleted by accident. Your chaos-lab.yaml stays; \`chaos-lab up\` builds a new VM.

Exit codes: 0 destroyed, 2 bad usage, config or no confirmation, 3 Vagrant could not be driven.`)

  static override examples = ['<%= config.bin %> <%= command.id %>', {description: 'In a script', command: '<%= config.bin %> <%= command.id %> --force --json'}]
  static override flags = {
    force: Flags.boolean({char: 'f', description: 'Do not ask for confirmation.', default: false}),
    verbose: verboseFlag,
  }

  async run() {
    const lab = labForDestroy(this.flags.dir)
    await this.confirmOrRefuse(`Destroy the lab VM in ${lab.dir} and everything in it?`, this.flags.force, '--force')
    const result = await destroyMachine(lab, this.deps(), {json: this.jsonEnabled(), verbose: this.flags.verbose})
    this.log(`The lab VM is gone (${result.state}). \`chaos-lab up\` builds a new one.`)
    return result
  }
}
