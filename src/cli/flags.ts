import {Flags} from '@oclif/core'

import {PROFILES} from '../config/schema.js'
import {HOSTS_AT_ONCE} from '../fleet/run.js'

/** Flags that point a command at an existing host instead of the lab folder's VM. */
export const targetFlags = {
  target: Flags.string({
    description: 'An existing machine to use instead of the lab folder\'s VM, as ssh://USER@HOST:PORT. Needs --identity; its host key is kept in ~/.config/chaos-lab/known_hosts.',
    helpValue: 'ssh://USER@HOST:PORT',
    helpGroup: 'TARGET',
  }),
  identity: Flags.string({
    description: 'Private key that logs in to --target (or to inventory hosts without ansible_ssh_private_key_file).',
    helpValue: 'KEY',
    helpGroup: 'TARGET',
  }),
}

export const profileFlag = Flags.option({
  options: PROFILES,
  description: 'desktop adds a GUI with auto-login (the book\'s VM); headless has none. Default: the lab\'s profile, or headless with --target.',
})()

/**
 * The one confirmation flag of destructive commands (reset, destroy): --yes, with --force and -f kept as aliases.
 * Without it and without a terminal to ask on, they refuse (exit 2).
 */
export const yesFlag = Flags.boolean({
  char: 'y',
  aliases: ['force'],
  charAliases: ['f'],
  description: 'Do not ask for confirmation (--force is the same).',
  default: false,
})

export const verboseFlag = Flags.boolean({
  char: 'v',
  description: 'Stream every line of output instead of a short live tail.',
  default: false,
})

/** Flags that run a command across a class from an Ansible inventory. */
export const fleetFlags = {
  inventory: Flags.string({
    char: 'i',
    description: 'Ansible inventory (INI or YAML) of learner machines: run on every host in it (see --limit).',
    helpValue: 'FILE',
    helpGroup: 'CLASS',
    exclusive: ['target'],
  }),
  limit: Flags.string({
    description: 'Only the hosts matching this Ansible pattern: names, groups, globs, "a,b", "!excluded", "&group".',
    helpValue: 'PATTERN',
    dependsOn: ['inventory'],
    helpGroup: 'CLASS',
  }),
  concurrency: Flags.integer({
    description: 'How many hosts to work on at once.',
    default: HOSTS_AT_ONCE,
    min: 1,
    max: 64,
    helpGroup: 'CLASS',
  }),
  user: Flags.string({
    description: 'Login user for inventory hosts without ansible_user.',
    dependsOn: ['inventory'],
    helpGroup: 'CLASS',
  }),
}

/** `check`'s own flags: the class report, JUnit, and the VM's size for lesson-1 on a --target. */
export const checkFlags = {
  report: Flags.string({description: 'With --inventory: write the class report (per-host JSON, CSV matrix, JUnit, HTML) into this folder.', helpValue: 'DIR', dependsOn: ['inventory'], helpGroup: 'CLASS'}),
  junit: Flags.string({description: 'Also write the results as JUnit XML to this file.', helpValue: 'FILE'}),
  memory: Flags.integer({description: 'Memory (MB) the VM was made with, for lesson-1 with --target. Default: chaos-lab.yaml, else the book\'s 4096.', min: 256}),
  cpus: Flags.integer({description: 'CPUs the VM was made with, for lesson-1 with --target. Default: chaos-lab.yaml, else the book\'s 2.', min: 1}),
}
