import {Flags} from '@oclif/core'

/** Flags that point a command at an existing host instead of the lab folder's VM. */
export const targetFlags = {
  target: Flags.string({
    description: 'An existing machine to use instead of the lab folder\'s VM, as ssh://USER@HOST:PORT. Needs --identity; its host key is kept in ~/.config/chaos-lab/known_hosts.',
    helpValue: 'ssh://USER@HOST:PORT',
    helpGroup: 'TARGET',
  }),
  identity: Flags.string({
    description: 'Private key that logs in to --target.',
    helpValue: 'KEY',
    dependsOn: ['target'],
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
