import {Flags} from '@oclif/core'

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
  options: ['desktop', 'headless'] as const,
  description: 'desktop adds a GUI with auto-login (the book\'s VM); headless has none. Default: the lab\'s profile, or headless with --target.',
})()

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
    default: 8,
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
