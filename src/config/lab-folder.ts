import {existsSync, readFileSync} from 'node:fs'
import {join, resolve} from 'node:path'

import {UsageError} from '../errors.js'
import {parseLabFile} from './parse.js'
import {resolveConfig, type LabConfig, type ProviderName} from './schema.js'

export const CONFIG_FILE = 'chaos-lab.yaml'
export const VAGRANTFILE = 'Vagrantfile'

/** Where a lab folder keeps what. The only place that joins paths under a lab folder. */
export interface LabPaths {
  /** Absolute lab folder. */
  dir: string
  /** chaos-lab.yaml */
  configFile: string
  /** The Vagrantfile rendered from chaos-lab.yaml (Vagrant providers). */
  vagrantfile: string
  /** .chaos-lab/: chaos-lab's private state (known_hosts, logs). */
  stateDir: string
  /** The VM's pinned SSH host key. */
  knownHostsFile: string
  /** Vagrant's own state for the lab's machine (.vagrant/machines/default/PROVIDER/id once it is created). */
  vagrantMachineDir: string
  /** Where `reset` archives the learner's work unless --backup-dir says otherwise: the lab folder itself, in sight. */
  backupDir: string
}

export function labPaths(dir: string): LabPaths {
  const root = resolve(dir)
  const stateDir = join(root, '.chaos-lab')
  return {
    dir: root,
    configFile: join(root, CONFIG_FILE),
    vagrantfile: join(root, VAGRANTFILE),
    stateDir,
    knownHostsFile: join(stateDir, 'known_hosts'),
    vagrantMachineDir: join(root, '.vagrant', 'machines', 'default'),
    backupDir: root,
  }
}

/** Settings given on the command line that win over chaos-lab.yaml for one run. */
export interface LabOverrides {
  provider?: ProviderName | undefined
}

/**
 * A lab folder with its chaos-lab.yaml read and validated once, command-line overrides applied. Every service
 * that works on the lab folder's machine takes one.
 */
export class LabFolder implements LabPaths {
  readonly dir: string
  readonly configFile: string
  readonly vagrantfile: string
  readonly stateDir: string
  readonly knownHostsFile: string
  readonly vagrantMachineDir: string
  readonly backupDir: string

  private constructor(paths: LabPaths, readonly config: LabConfig) {
    this.dir = paths.dir
    this.configFile = paths.configFile
    this.vagrantfile = paths.vagrantfile
    this.stateDir = paths.stateDir
    this.knownHostsFile = paths.knownHostsFile
    this.vagrantMachineDir = paths.vagrantMachineDir
    this.backupDir = paths.backupDir
  }

  /** True when the folder has a chaos-lab.yaml. */
  static exists(dir: string): boolean {
    return existsSync(labPaths(dir).configFile)
  }

  /** Loads and validates chaos-lab.yaml; a missing file is a usage error with the fix. */
  static load(dir: string, overrides: LabOverrides = {}): LabFolder {
    const paths = labPaths(dir)
    if (!existsSync(paths.configFile)) {
      throw new UsageError(`There is no ${CONFIG_FILE} in ${paths.dir}, so this is not a lab folder.`, {
        suggestion: `Run \`chaos-lab init --dir ${dir}\` to create one with the book's settings, or pass --dir with your lab folder.`,
      }, 'no_lab')
    }
    const parsed = parseLabFile(readFileSync(paths.configFile, 'utf8'), paths.configFile)
    // An override goes in before the defaults that follow it are filled in: an unset box follows the provider.
    return new LabFolder(paths, resolveConfig({...parsed, ...definedOnly(overrides)}))
  }

  /** Vagrant made this lab's machine (virtualbox, libvirt), as opposed to an existing host (ssh). */
  get isVagrant(): boolean {
    return this.config.provider !== 'ssh'
  }

  /** A new log file for one run, in .chaos-lab/logs. */
  logFile(kind: string, now: Date): string {
    return join(this.stateDir, 'logs', logFileName(kind, now))
  }
}

function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>
}

/** `KIND-2026-12-02T03-40-19-000Z.log`: one file per run, sorted by time. */
export function logFileName(kind: string, now: Date): string {
  return `${kind}-${now.toISOString().replace(/[:.]/g, '-')}.log`
}
