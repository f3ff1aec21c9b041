import {createHostFacts, type HostFacts} from './doctor/host-facts.js'
import {ExecaRunner, type ProcessRunner} from './process/runner.js'
import {connectSsh, type SshConnector} from './ssh/session.js'
import {isTerminal} from './ui/terminal.js'

/**
 * Everything a command needs from the outside world, behind one seam. Commands call `deps()`; tests call
 * `setDepsForTesting()` with fakes (a fake process runner, an in-process SSH server's connector).
 */
export interface Deps {
  runner: ProcessRunner
  connectSsh: SshConnector
  /** True when a person can answer questions (stdin and stdout are terminals). */
  isInteractive: () => boolean
  /** Asks a yes/no question on the terminal. Only called when isInteractive() is true. */
  confirm: (question: string) => Promise<boolean>
  env: NodeJS.ProcessEnv
  now: () => Date
  /** Waits: retry delays, an experiment's warm-up and pauses. */
  sleep: (ms: number) => Promise<void>
  /** What `doctor` reads about this computer (CPU flags, memory, disk, ports); program starts go through `runner`. */
  hostFacts: (runner: ProcessRunner) => HostFacts
}

async function askOnTerminal(question: string): Promise<boolean> {
  const {createInterface} = await import('node:readline/promises')
  const rl = createInterface({input: process.stdin, output: process.stderr})
  try {
    const answer = await rl.question(`${question} [y/N] `)
    return /^y(es)?$/i.test(answer.trim())
  } finally {
    rl.close()
  }
}

function realDeps(): Deps {
  return {
    runner: new ExecaRunner(),
    connectSsh,
    isInteractive: () => isTerminal(process.stdin) && isTerminal(process.stdout),
    confirm: askOnTerminal,
    env: process.env,
    now: () => new Date(),
    sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    hostFacts: createHostFacts,
  }
}

let overrides: Partial<Deps> | undefined

export function deps(): Deps {
  return {...realDeps(), ...overrides}
}

export function setDepsForTesting(fakes: Partial<Deps> | undefined): void {
  overrides = fakes
}
