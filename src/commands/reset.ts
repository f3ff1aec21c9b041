import {Args, Flags} from '@oclif/core'

import {prepareClassReset, prepareReset} from '../services/reset.js'
import {labUnlessTarget} from '../services/machine.js'
import {BaseCommand} from '../cli/base-command.js'
import {fleetFlags, targetFlags, verboseFlag, yesFlag} from '../cli/flags.js'
import {prose} from '../cli/prose.js'

export default class Reset extends BaseCommand<typeof Reset> {
  static override summary = 'Put a lab VM (or one lesson, or a whole class) back to a clean state, after backing up the learner\'s work.'
  static override description = prose(`Without a lesson: restores the VM's chaos-lab-pristine snapshot (taken by \`chaos-lab up\`) without provisioning again.
With a lesson: runs that lesson's own reset (lesson-2: a fresh answer sheet, the original unit files and nginx
config, services restarted with their start-limit state cleared, the chapter folder restored), on any machine.

Before anything is reset, the learner's work (~chaos/answers, ~chaos/src, shell history) is copied to this
computer as chaos-lab-backup-HOST-TIME.tar.gz in the lab folder (or --backup-dir); if that copy fails, nothing is
reset. To give a learner their work back:
  chaos-lab ssh --user vagrant -- sudo tar -xzf - -C / < chaos-lab-backup-….tar.gz

Asks first; --yes for scripts (without a terminal and without --yes it refuses, exit 2).
JSON: {target, scope: "vm"|LESSON, backup: {file, bytes, paths}}; with --inventory, one entry per host.
Exit codes: 0 reset, 2 bad usage/config or not confirmed, 3 a machine could not be reached or the backup failed.`)

  static override examples = [
    {description: 'Reset lesson 2 for the learner in this lab folder', command: '<%= config.bin %> <%= command.id %> lesson-2'},
    {description: 'Restore the whole VM to the state right after `chaos-lab up`', command: '<%= config.bin %> <%= command.id %> --yes'},
    {description: 'Reset lesson 2 for the whole class, archives into ./backups', command: '<%= config.bin %> <%= command.id %> lesson-2 --inventory class.ini --backup-dir backups --yes'},
  ]

  static override args = {lesson: Args.string({description: 'Lesson to reset (e.g. lesson-2); omit to restore the whole VM.'})}
  static override flags = {
    ...targetFlags,
    ...fleetFlags,
    yes: yesFlag,
    'backup-dir': Flags.string({description: 'Where the learner\'s work is archived before the reset (default: the lab folder, or the current folder).', helpValue: 'DIR'}),
    verbose: verboseFlag,
  }

  async run() {
    const flags = {...this.flags, lesson: this.args.lesson, backupDir: this.flags['backup-dir']}
    const {inventory} = flags
    if (inventory) {
      const fleet = prepareClassReset({...flags, inventory}, this.deps())
      await this.confirmOrRefuse(fleet.describe, flags.yes, '--yes')
      const report = await fleet.run({json: this.jsonEnabled()})
      this.log(`${report.summary.ok} of ${report.summary.total} machines reset; ${report.summary.unreachable} unreachable, ${report.summary.error} failed.`)
      process.exitCode = report.exitCode
      return report
    }
    const reset = await prepareReset(flags, labUnlessTarget(flags), this.deps())
    await this.confirmOrRefuse(reset.describe, flags.yes, '--yes')
    const report = await reset.run({json: this.jsonEnabled()})
    this.log(`Reset ${report.scope} on ${report.target}. The learner's work is in ${report.backup.file}.`)
    return report
  }
}
