import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {parseDocument} from 'yaml'

import {vagrantHomeFor, type LibvirtBox} from './box.js'
import type {LibvirtHost} from './daemon.js'

/** The VM settings this machine can run, written into a lab's chaos-lab.yaml after `chaos-lab init`. */
export interface LabVmSettings {
  /** Default 1024 MB: enough for provisioning, small enough for the OOM lesson to be quick. */
  memoryMb?: number
  /** Default 2. */
  cpus?: number
}

/**
 * Points a lab made by `chaos-lab init --provider libvirt` at the test host: driver qemu (no KVM here), the
 * private libvirtd's socket, and the VM's memory and CPUs (libvirt.memory / libvirt.cpus). Keeps the file's
 * comments (edits the YAML document, not a re-serialised object).
 */
export function configureLabForHost(labDir: string, host: LibvirtHost, settings: LabVmSettings = {}): void {
  const file = path.join(labDir, 'chaos-lab.yaml')
  const doc = parseDocument(readFileSync(file, 'utf8'))
  doc.setIn(['libvirt', 'driver'], 'qemu')
  doc.setIn(['libvirt', 'uri'], host.uri)
  doc.setIn(['libvirt', 'memory'], settings.memoryMb ?? 1024)
  doc.setIn(['libvirt', 'cpus'], settings.cpus ?? 2)
  // Chapter 2 only: the box has chapter 2's packages; chapter 3 (BCC's LLVM under TCG) is test/e2e/chapters-vm's.
  doc.setIn(['chapters'], doc.createNode([2], {flow: true}))
  writeFileSync(file, doc.toString())
}

/**
 * The environment for chaos-lab (and so Vagrant) in a test, all inside `scratch`: a private config folder, a
 * VAGRANT_HOME of its own that sees the cached box; no update checks.
 */
export function labEnv(box: LibvirtBox, scratch: string): Record<string, string> {
  return {
    // chaos-lab's own config folder (known hosts of fleets, logs), never the user's.
    XDG_CONFIG_HOME: path.join(scratch, 'config'),
    CI: process.env.CI ?? '',
    VAGRANT_HOME: vagrantHomeFor(box, path.join(scratch, 'vagrant.d')),
    VAGRANT_CHECKPOINT_DISABLE: '1',
    VAGRANT_BOX_UPDATE_CHECK_DISABLE: '1',
    VAGRANT_NO_COLOR: '1',
  }
}
