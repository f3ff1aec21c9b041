import {Args, Flags} from '@oclif/core'

import {labUnlessTarget} from '../services/machine.js'
import {openShell} from '../services/shell.js'
import {LEARNER} from '../config/learner.js'
import {BaseCommand} from '../cli/base-command.js'
import {targetFlags} from '../cli/flags.js'
import {prose} from '../cli/prose.js'

export default class Ssh extends BaseCommand<typeof Ssh> {
  static override summary = 'Open a shell in the lab VM as the learner (chaos), or run one command there.'
  static override description = prose(`Uses OpenSSH with the key chaos-lab logs in with and the host key it recorded, so a changed VM is refused.
Anything after -- runs instead of an interactive shell; its exit code becomes chaos-lab's.

Exit codes: the remote shell's own, 2 bad usage or config, 3 the VM could not be reached.`)

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    {description: 'Run one command', command: '<%= config.bin %> <%= command.id %> -- systemctl status faas001_a'},
    {description: 'Log in as the provisioning user instead of chaos', command: '<%= config.bin %> <%= command.id %> --user vagrant'},
  ]

  static override strict = false
  static override args = {command: Args.string({description: 'Command to run instead of a shell (after --).'})}
  static override enableJsonFlag = false
  static override flags = {
    ...targetFlags,
    user: Flags.string({char: 'u', description: 'User to log in as.', default: LEARNER}),
  }

  async run() {
    const command = this.argv.slice(this.argv.indexOf('--') + 1)
    const code = await openShell(this.flags, labUnlessTarget(this.flags), this.argv.includes('--') ? command : [], this.deps())
    process.exitCode = code
  }
}
