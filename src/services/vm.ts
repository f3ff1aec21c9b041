import {rmSync} from 'node:fs'

import type {Deps} from '../deps.js'
import type {LabFolder} from '../config/lab-folder.js'
import {liveTail, runWithProgress} from '../ui/progress.js'
import {requireVagrantLab, vagrantOf} from './machine.js'

/** `chaos-lab halt` and `chaos-lab destroy`: the Vagrant VM's end of life. Both refuse a lab of provider ssh. */

export interface VmState {
  dir: string
  state: string
}

export async function halt(lab: LabFolder, deps: Deps, ui: {json: boolean; verbose: boolean}): Promise<VmState> {
  requireVagrantLab(lab, 'stop')
  const vagrant = vagrantOf(lab, deps)
  await runWithProgress([{title: 'Stop the VM (vagrant halt)', rendererOptions: liveTail, task: async (_c, task) => { await vagrant.halt((line) => { task.output = line }) }}], {}, ui)
  return {dir: lab.dir, state: (await vagrant.status()).state}
}

/** Checked before anyone is asked whether to destroy: a bad config or a non-Vagrant lab is refused first. */
export function requireDestroyable(lab: LabFolder): void {
  requireVagrantLab(lab, 'destroy')
}

export async function destroy(lab: LabFolder, deps: Deps, ui: {json: boolean; verbose: boolean}): Promise<VmState> {
  requireDestroyable(lab)
  const vagrant = vagrantOf(lab, deps)
  await runWithProgress([{title: 'Destroy the VM (vagrant destroy)', rendererOptions: liveTail, task: async (_c, task) => { await vagrant.destroy((line) => { task.output = line }) }}], {}, ui)
  // The next VM will have a new host key: forget this one's, it belongs to a machine that no longer exists.
  rmSync(lab.knownHostsFile, {force: true})
  return {dir: lab.dir, state: (await vagrant.status()).state}
}
