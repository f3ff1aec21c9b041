import {LabFolder} from '../config/lab-folder.js'
import {destroy, requireDestroyable} from '../services/vm.js'
import {BaseCommand} from '../cli/base-command.js'
import {verboseFlag, yesFlag} from '../cli/flags.js'
import {prose} from '../cli/prose.js'

export default class Destroy extends BaseCommand<typeof Destroy> {
  static override summary = 'Delete the lab VM and its disk, including everything done inside it.'
  static override description = prose(`Runs \`vagrant destroy\` after asking. In scripts pass --yes (or --force); without a terminal and without that flag it
refuses (exit 2), so nothing is deleted by accident. Your chaos-lab.yaml stays; \`chaos-lab up\` builds a new VM.

Exit codes: 0 destroyed, 2 bad usage, config or no confirmation, 3 Vagrant could not be driven.`)

  static override examples = ['<%= config.bin %> <%= command.id %>', {description: 'In a script', command: '<%= config.bin %> <%= command.id %> --yes --json'}]
  static override flags = {
    yes: yesFlag,
    verbose: verboseFlag,
  }

  async run() {
    const lab = LabFolder.load(this.flags.dir)
    requireDestroyable(lab)
    await this.confirmOrRefuse(`Destroy the lab VM in ${lab.dir} and everything in it?`, this.flags.yes, '--yes')
    const result = await destroy(lab, this.deps(), {json: this.jsonEnabled(), verbose: this.flags.verbose})
    this.log(`The lab VM is gone (${result.state}). \`chaos-lab up\` builds a new one.`)
    return result
  }
}
