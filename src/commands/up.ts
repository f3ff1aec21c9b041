import {Flags} from '@oclif/core'

import {LabFolder} from '../config/lab-folder.js'
import {PROVIDERS} from '../config/schema.js'
import {up} from '../services/up.js'
import {BaseCommand} from '../cli/base-command.js'
import {verboseFlag} from '../cli/flags.js'
import {prose} from '../cli/prose.js'

export default class Up extends BaseCommand<typeof Up> {
  static override summary = 'Create the book\'s lab VM with Vagrant and provision it.'
  static override description = prose(`Renders the Vagrantfile from chaos-lab.yaml, runs \`vagrant up\`, connects over SSH (recording the VM's
host key in .chaos-lab/known_hosts), provisions the chapter's tools, programs and services, and takes the snapshot
\`chaos-lab-pristine\` that \`chaos-lab reset\` restores. Running it again on a running VM is quick and changes nothing.
With provider ssh it provisions the existing host instead.

Exit codes: 0 ready, 2 bad usage or config, 3 Vagrant, the provider or the VM could not be driven.`)

  static override examples = [
    {description: 'Create the lab in the current folder (after `chaos-lab init`)', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Use libvirt instead of the configured provider (Linux without VirtualBox)', command: '<%= config.bin %> <%= command.id %> --provider libvirt'},
    {description: 'Machine-readable result for scripts', command: '<%= config.bin %> <%= command.id %> --dir ~/chaos-lab --json'},
  ]

  static override flags = {
    provider: Flags.option({options: PROVIDERS, description: 'Override the provider from chaos-lab.yaml for this run.'})(),
    verbose: verboseFlag,
  }

  async run() {
    const lab = LabFolder.load(this.flags.dir, {provider: this.flags.provider})
    const report = await up(lab, this.deps(), {json: this.jsonEnabled(), verbose: this.flags.verbose})
    this.log(`The lab VM is ready (${report.provider}, ${report.target}).`)
    this.log('Next: `chaos-lab ssh` to log in as chaos, then `chaos-lab check lesson-2` as you work through chapter 2.')
    return report
  }
}
