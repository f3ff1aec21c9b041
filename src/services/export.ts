import {chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'

import {chaptersAskedFor} from '../config/chapters.js'
import {LabFolder} from '../config/lab-folder.js'
import {CHAPTERS, type Profile} from '../config/schema.js'
import {LocalWriteError, UsageError, errorMessage} from '../errors.js'
import {ansibleExport, exportedSteps, ROLE} from '../provision/ansible.js'
import {bundleFor} from '../provision/tasks.js'

export interface ExportAnsibleFlags {
  /** The lab folder: its chaos-lab.yaml, when there is one, gives the settings (aptProxy, chapters). */
  dir: string
  profile?: Profile | undefined
  force: boolean
  /** --chapters, parsed: chapters to add to the lab folder's (without one: the chapters, instead of every one). */
  chapters?: number[] | undefined
}

export interface AnsibleExportReport {
  dir: string
  files: string[]
  profile: Profile
  bundle: string
  /** The book's chapters the playbook provisions. */
  chapters: number[]
  steps: Array<{name: string; hash: string}>
  playbook: string
}

/** Refuses a folder that holds anything (unless --force) or is not a folder: before anything is written. */
function checkDestination(dir: string, force: boolean): void {
  if (!existsSync(dir)) return
  if (!statSync(dir).isDirectory()) {
    throw new UsageError(`${dir} exists and is not a folder, so the playbook cannot be written there; nothing was written.`, {
      suggestion: 'Name a new or empty folder: chaos-lab export ansible DIR.',
    }, 'export_not_a_folder')
  }
  const entries = readdirSync(dir)
  if (entries.length > 0 && !force) {
    throw new UsageError(`${dir} is not empty (it holds ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}), so nothing was written: an export never mixes its files with others unasked.`, {
      suggestion: `Name a new or empty folder, or pass --force to write the playbook and role over what is there (roles/${ROLE} is replaced, other files are kept).`,
    }, 'export_folder_not_empty')
  }
}

/**
 * `chaos-lab export ansible DIR`: a playbook and role that run chaos-lab's own provisioning bundle, with the
 * profile (--profile, default headless, as `provision --inventory`), the lab folder's aptProxy, and exactly the
 * lab folder's chapters (plus --chapters; without a lab folder, --chapters or every chapter, like the book's VM).
 */
export function exportAnsible(target: string, flags: ExportAnsibleFlags, generator: string): AnsibleExportReport {
  const dir = resolve(target)
  const profile = flags.profile ?? 'headless'
  const lab = LabFolder.exists(flags.dir) ? LabFolder.load(flags.dir) : undefined
  const aptProxy = lab?.config.aptProxy ?? ''
  const chapters = chaptersAskedFor(flags.chapters, lab) ?? [...CHAPTERS]
  checkDestination(dir, flags.force)
  const bundle = bundleFor({profile, aptProxy})
  const files = ansibleExport(bundle, profile, generator, chapters)
  try {
    rmSync(join(dir, 'roles', ROLE), {recursive: true, force: true})
    for (const file of files) {
      const path = join(dir, ...file.path.split('/'))
      mkdirSync(dirname(path), {recursive: true})
      writeFileSync(path, file.content)
      chmodSync(path, file.mode)
    }
  } catch (error) {
    throw new LocalWriteError(`Could not write the Ansible export to ${dir}: ${errorMessage(error)}.`, {suggestion: 'Check that the folder is writable and the disk has room, then run the command again.'})
  }
  return {
    dir,
    files: files.map((file) => file.path),
    profile,
    bundle: bundle.hash,
    chapters,
    steps: exportedSteps(bundle, chapters).map(({name, hash}) => ({name, hash})),
    playbook: join(dir, 'playbook.yml'),
  }
}
