import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {profileFlag} from '../../cli/flags.js'
import {prose} from '../../cli/prose.js'
import {parseChapterList} from '../../config/chapters.js'
import {exportAnsible, type AnsibleExportReport} from '../../services/export.js'

export default class ExportAnsible extends BaseCommand<typeof ExportAnsible> {
  static override summary = 'Write an Ansible playbook and role that provision hosts exactly as `chaos-lab provision` does.'
  static override description = prose(`For a class on an Ansible/AWX setup: writes playbook.yml and roles/chaos_lab into DIR. The role ships
chaos-lab's own provisioning bundle and runs it with a small module: the same steps, profile and settings (aptProxy
and the book's chapters from the lab folder's chaos-lab.yaml; without one, every chapter), the same stamps in /var/lib/chaos-lab/state.json, so a rerun changes
nothing and chaos-lab and Ansible can take turns on one machine. Run it with ansible-playbook -i INVENTORY
DIR/playbook.yml, then chaos-lab check LESSON --inventory INVENTORY.

JSON: {dir, files: [...], profile, bundle, chapters: [...], steps: [{name, hash}], playbook}.

Exit codes: 0 written, 2 bad usage or config (DIR not empty without --force; nothing written), 3 a file could not be written.`)

  static override examples = [
    {description: 'Write the playbook for the headless profile', command: '<%= config.bin %> <%= command.id %> class-playbook'},
    {description: 'Then provision a class with it', command: 'ansible-playbook -i class.ini class-playbook/playbook.yml'},
    {description: 'A playbook for chapters 2 and 3 only, whatever the lab folder says', command: '<%= config.bin %> <%= command.id %> class-playbook --dir lab --chapters 2,3'},
    {description: 'Write it again over an earlier export after an upgrade', command: '<%= config.bin %> <%= command.id %> class-playbook --force'},
  ]

  static override args = {
    dir: Args.string({description: 'The folder to write (new or empty, or any with --force).', required: true}),
  }

  static override flags = {
    profile: profileFlag,
    chapters: Flags.string({description: 'Chapters of the book to add to the lab folder\'s chapters, e.g. 3 or 2,3 (without a chaos-lab.yaml in --dir: these chapters instead of every one).', helpValue: 'N,N'}),
    force: Flags.boolean({description: 'Write into a folder that is not empty (the role is replaced, other files are kept).', default: false}),
  }

  run(): Promise<AnsibleExportReport> {
    const chapters = this.flags.chapters === undefined ? undefined : parseChapterList(this.flags.chapters)
    const report = exportAnsible(this.args.dir, {...this.flags, chapters}, `chaos-lab ${this.config.version} (export ansible)`)
    this.log(`Wrote ${report.files.length} files to ${report.dir} (profile ${report.profile}, chapters ${report.chapters.join(', ')}, steps ${report.steps.map((step) => step.name).join(', ')}).`)
    this.log(`Run it: ansible-playbook -i INVENTORY ${report.playbook}`)
    return Promise.resolve(report)
  }
}
