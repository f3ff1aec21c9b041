import type {Deps} from '../deps.js'
import {LabFolder, labPaths} from '../config/lab-folder.js'
import {defaultLabConfig} from '../config/init-yaml.js'
import {runDoctor, type DoctorReport} from '../doctor/doctor.js'

/**
 * `chaos-lab doctor`: the lab folder's chaos-lab.yaml is validated first (a bad one is exit 2, before anything
 * looks for Vagrant); without one, the book's defaults are checked.
 */
export function doctor(dir: string, deps: Deps): Promise<DoctorReport> {
  const input = LabFolder.exists(dir)
    ? (() => { const lab = LabFolder.load(dir); return {config: lab.config, dir: lab.dir, file: lab.configFile} })()
    : {config: defaultLabConfig(), dir: labPaths(dir).dir, file: undefined}
  return runDoctor(input, {runner: deps.runner, host: deps.hostFacts(deps.runner), env: deps.env})
}
