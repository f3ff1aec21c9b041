import {LabFolder} from '../config/lab-folder.js'
import {halt} from '../services/vm.js'
import {BaseCommand} from '../cli/base-command.js'
import {verboseFlag} from '../cli/flags.js'

export default class Halt extends BaseCommand<typeof Halt> {
  static override summary = 'Shut the lab VM down (its disk and your work stay).'
  static override description = 'Runs `vagrant halt`. Start it again with `chaos-lab up`.\n\nExit codes: 0 stopped, 2 bad usage or config, 3 Vagrant could not be driven.'
  static override examples = ['<%= config.bin %> <%= command.id %>']
  static override flags = {verbose: verboseFlag}

  async run() {
    const result = await halt(LabFolder.load(this.flags.dir), this.deps(), {json: this.jsonEnabled(), verbose: this.flags.verbose})
    this.log(`The lab VM is ${result.state}.`)
    return result
  }
}
