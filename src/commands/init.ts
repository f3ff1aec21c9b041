import {Flags} from '@oclif/core'

import {init, type InitReport} from '../services/init.js'
import {PROFILES, PROVIDERS} from '../config/schema.js'
import {BaseCommand} from '../cli/base-command.js'

export default class Init extends BaseCommand<typeof Init> {
  static override summary = 'Create a lab folder: chaos-lab.yaml with the book\'s VM settings, and its Vagrantfile.'
  static override description = [
    'Writes chaos-lab.yaml into the lab folder (--dir, created when missing) with every setting spelled out at its default, the VM of the book Chaos Engineering, and a one-line comment each. For the Vagrant providers (virtualbox, libvirt) it also writes the Vagrantfile rendered from it.',
    'It never overwrites an existing chaos-lab.yaml, or a Vagrantfile chaos-lab did not write, unless you pass --force. Flags are checked with the same rules as chaos-lab.yaml, before anything is written.',
    'Exit codes: 0 written; 2 bad flags or the lab already exists (nothing written).',
    'JSON (--json): {dir, files: [paths written], config}.',
  ].join('\n\n')

  static override examples = [
    {description: 'A lab in the current folder with the book\'s settings (VirtualBox, desktop)', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'A lab in a new folder, run with libvirt and without a GUI', command: '<%= config.bin %> <%= command.id %> --dir ~/chaos-lab --provider libvirt --profile headless'},
    {description: 'Start again from the defaults (replaces chaos-lab.yaml)', command: '<%= config.bin %> <%= command.id %> --force'},
    {description: 'What was written, for scripts', command: '<%= config.bin %> <%= command.id %> --dir lab --json'},
  ]

  static override flags = {
    provider: Flags.string({
      description: `Where the lab machine runs: ${PROVIDERS.join(', ')}. Default: virtualbox.`,
      helpValue: PROVIDERS.join('|'),
    }),
    profile: Flags.string({
      description: 'desktop opens the VM\'s window (the book\'s VM); headless runs it without one. Default: desktop.',
      helpValue: PROFILES.join('|'),
    }),
    box: Flags.string({
      description: 'Vagrant base box. Default: bento/ubuntu-24.04 (virtualbox, amd64 and arm64), generic/ubuntu2204 (libvirt).',
      helpValue: 'BOX',
    }),
    force: Flags.boolean({description: 'Replace an existing chaos-lab.yaml (and a Vagrantfile chaos-lab did not write).', default: false}),
  }

  run(): Promise<InitReport> {
    const {dir, provider, profile, box, force} = this.flags
    const report = init({dir, provider, profile, box, force})
    const at = dir === '.' ? '' : ` --dir ${dir}`
    this.log(`Wrote a lab for provider ${report.config.provider} (profile ${report.config.profile}) in ${report.dir}:`)
    for (const file of report.files) this.log(`  ${file}`)
    this.log('')
    this.log('Next:')
    this.log(`  chaos-lab doctor${at}   checks that this computer can run the lab VM`)
    this.log(`  chaos-lab up${at}       creates and provisions the VM`)
    return Promise.resolve(report)
  }
}
