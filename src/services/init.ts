import {existsSync, mkdirSync, readFileSync, statSync} from 'node:fs'
import {isDeepStrictEqual} from 'node:util'

import {CONFIG_FILE, labPaths, type LabPaths} from '../config/lab-folder.js'
import {configFromFlags, initYaml} from '../config/init-yaml.js'
import {parseLabConfig} from '../config/parse.js'
import type {LabConfig} from '../config/schema.js'
import {InternalError, UsageError} from '../errors.js'
import {isGeneratedVagrantfile, writeVagrantfile} from '../render/vagrantfile.js'
import {writeAtomicallySync} from '../util/files.js'

export interface InitOptions {
  /** The lab folder; created when missing. */
  dir: string
  provider?: string | undefined
  profile?: string | undefined
  box?: string | undefined
  /** Replace an existing chaos-lab.yaml (and a Vagrantfile chaos-lab did not write). */
  force: boolean
}

/** `chaos-lab init --json`: a stable, documented shape. */
export interface InitReport {
  /** Absolute lab folder. */
  dir: string
  /** Absolute paths of the files written, chaos-lab.yaml first. */
  files: string[]
  config: LabConfig
}

/** Everything init could refuse, checked before the first write, so a refusal leaves the folder as it was. */
function refuseToOverwrite(lab: LabPaths, config: LabConfig, force: boolean): void {
  if (existsSync(lab.dir) && !statSync(lab.dir).isDirectory()) {
    throw new UsageError(`${lab.dir} is not a folder.`, {suggestion: 'Pass --dir with a folder (it is created when missing).'}, 'not_a_folder')
  }
  if (force) return
  if (existsSync(lab.configFile)) {
    throw new UsageError(`${lab.configFile} already exists; init does not overwrite a lab.`, {
      suggestion: 'Edit that file instead, or pass --force to replace it with the defaults (your changes to it are lost).',
    }, 'lab_exists')
  }
  if (config.provider !== 'ssh' && existsSync(lab.vagrantfile) && !isGeneratedVagrantfile(readFileSync(lab.vagrantfile, 'utf8'))) {
    throw new UsageError(`${lab.vagrantfile} exists and was not written by chaos-lab; init does not overwrite it.`, {
      suggestion: 'Use another --dir for the lab, or pass --force to replace that Vagrantfile.',
    }, 'vagrantfile_exists')
  }
}

/** `chaos-lab init`: writes chaos-lab.yaml (and, for a Vagrant provider, the Vagrantfile) into the lab folder. */
export function init(options: InitOptions): InitReport {
  const config = configFromFlags(options)
  const lab = labPaths(options.dir)
  refuseToOverwrite(lab, config, options.force)
  const text = initYaml(config)
  if (!isDeepStrictEqual(parseLabConfig(text, CONFIG_FILE), config)) {
    throw new InternalError('The chaos-lab.yaml that init would write does not read back as the settings it was made from.')
  }
  mkdirSync(lab.dir, {recursive: true})
  writeAtomicallySync(lab.configFile, text)
  const files = [lab.configFile]
  if (config.provider !== 'ssh') {
    writeVagrantfile(lab, config)
    files.push(lab.vagrantfile)
  }
  return {dir: lab.dir, files, config}
}
