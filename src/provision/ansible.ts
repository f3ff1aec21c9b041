import {readFileSync} from 'node:fs'

import {LEARNER} from '../config/learner.js'
import {packagePath} from '../util/paths.js'
import {bundleTar, REMOTE_BUNDLE, REMOTE_ROOT, REMOTE_STATE, type Bundle, type ProvisioningStep} from './bundle.js'

/** Where the role leaves the bundle and its manifest on a host (next to chaos-lab's own state). */
export const ANSIBLE_REMOTE_DIR = `${REMOTE_ROOT}/ansible`

/** The role's name in roles/ and in the playbook. */
export const ROLE = 'chaos_lab'

export interface ExportedFile {
  /** Relative to the export folder, with '/'. */
  path: string
  content: Buffer
  mode: number
}

/**
 * What the role's module reads on the host: the steps in order with the hashes chaos-lab stamps, the bundle's
 * hash, and the environment of every step. The module (templates/ansible/chaos_lab_provision.py) does what the
 * Provisioner does over SSH: same state file, same stamps, same step commands. The steps themselves stay in the
 * bundle: nothing of them is written out as Ansible tasks.
 */
export interface AnsibleManifest {
  generator: string
  profile: string
  bundle: string
  root: string
  bundleDir: string
  stateFile: string
  /** On the host: every step's output, appended. */
  logFile: string
  env: Record<string, string>
  /** The book's chapters the playbook provisions; the module adds them to the state file's, as chaos-lab does. */
  chapters: number[]
  /** The lab's steps only: every step that is no chapter's, and the steps of `chapters`. */
  steps: Array<{name: string; script: string; hash: string}>
}

/** The bundle's steps a lab of these chapters runs, in order. */
export function exportedSteps(bundle: Bundle, chapters: readonly number[]): ProvisioningStep[] {
  return bundle.steps.filter((step) => step.chapter === undefined || chapters.includes(step.chapter))
}

export function ansibleManifest(bundle: Bundle, profile: string, generator: string, chapters: readonly number[]): AnsibleManifest {
  return {
    generator,
    profile,
    bundle: bundle.hash,
    root: REMOTE_ROOT,
    bundleDir: REMOTE_BUNDLE,
    stateFile: REMOTE_STATE,
    logFile: '/var/log/chaos-lab/ansible-provision.log',
    // As Provisioner.runStep sets them; CHAOS_LAB_LOGIN_USER comes from the inventory's ansible_user.
    env: {...bundle.settings, CHAOS_LAB_PROFILE: profile, CHAOS_LAB_USER: LEARNER, DEBIAN_FRONTEND: 'noninteractive'},
    chapters: [...chapters],
    steps: exportedSteps(bundle, chapters).map(({name, script, hash}) => ({name, script, hash})),
  }
}

const text = (path: string, content: string, mode = 0o644): ExportedFile => ({path, content: Buffer.from(content), mode})

function playbook(manifest: AnsibleManifest): string {
  return `# Written by ${manifest.generator}: provisions every host of an inventory as \`chaos-lab provision --inventory\`
# does (profile ${manifest.profile}, the book's chapters ${manifest.chapters.join(', ')}, bundle ${manifest.bundle}), with the
# same steps and the same stamps in ${manifest.stateFile}, so chaos-lab and Ansible can take turns on one machine.
#   ansible-playbook -i INVENTORY playbook.yml
- name: chaos-lab lab machines
  hosts: all
  become: true
  gather_facts: false
  roles:
    - ${ROLE}
`
}

function tasks(manifest: AnsibleManifest): string {
  return `# Ships chaos-lab's provisioning bundle (files/bundle.tar, the same files chaos-lab uploads) and runs its steps
# with the module in ../library: a step runs when its stamp in ${manifest.stateFile} differs from its hash.
- name: A folder for the bundle
  ansible.builtin.file:
    path: ${ANSIBLE_REMOTE_DIR}
    state: directory
    mode: '0755'

- name: The provisioning bundle ${manifest.bundle}
  ansible.builtin.copy:
    src: bundle.tar
    dest: ${ANSIBLE_REMOTE_DIR}/bundle.tar
    mode: '0600'

- name: The steps, their hashes and their settings
  ansible.builtin.copy:
    src: manifest.json
    dest: ${ANSIBLE_REMOTE_DIR}/manifest.json
    mode: '0644'

- name: Run the steps whose inputs changed (${manifest.steps.map((step) => step.name).join(', ')})
  chaos_lab_provision:
    bundle: ${ANSIBLE_REMOTE_DIR}/bundle.tar
    manifest: ${ANSIBLE_REMOTE_DIR}/manifest.json
    login_user: "{{ ansible_user | default('') }}"
`
}

function readme(manifest: AnsibleManifest): string {
  return `# chaos-lab as an Ansible playbook

Written by ${manifest.generator}. \`ansible-playbook -i INVENTORY playbook.yml\` provisions every host of the
inventory as \`chaos-lab provision --inventory INVENTORY\` would: profile ${manifest.profile}, the book's chapters
${manifest.chapters.join(', ')} (the steps ${manifest.steps.map((step) => step.name).join(', ')}), from the same provisioning
bundle (\`roles/${ROLE}/files/bundle.tar\`, hash ${manifest.bundle}). The learner account, the chapter's programs and services, the lesson answer sheets and
lesson start marks are written by those steps, exactly as chaos-lab writes them.

Each finished step is stamped in \`${manifest.stateFile}\` with the hash chaos-lab uses, so a rerun changes nothing
(\`changed=0\`), and chaos-lab and Ansible can take turns on one machine. The hosts need Python 3 (Ansible's
modules), passwordless sudo for the login user, and Ubuntu LTS or Debian 12/13. Each step's output is kept on the
host in ${manifest.logFile}.

Then check the class with chaos-lab: \`chaos-lab check lesson-1 --inventory INVENTORY\`.
Write it again after upgrading chaos-lab: \`chaos-lab export ansible DIR --force\`.
`
}

/** Every file of the export: playbook, role (tasks, module, bundle, manifest) and a README. */
export function ansibleExport(bundle: Bundle, profile: string, generator: string, chapters: readonly number[]): ExportedFile[] {
  const manifest = ansibleManifest(bundle, profile, generator, chapters)
  const role = `roles/${ROLE}`
  return [
    text('playbook.yml', playbook(manifest)),
    text('README.md', readme(manifest)),
    text(`${role}/tasks/main.yml`, tasks(manifest)),
    text(`${role}/files/manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`),
    {path: `${role}/files/bundle.tar`, content: bundleTar(bundle), mode: 0o644},
    {path: `${role}/library/chaos_lab_provision.py`, content: readFileSync(packagePath('templates', 'ansible', 'chaos_lab_provision.py')), mode: 0o755},
  ]
}
