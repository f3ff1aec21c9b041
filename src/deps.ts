import {createHostFacts, type HostFacts} from './doctor/host-facts.js'
import {ExecaRunner, type ProcessRunner} from './process/runner.js'
import {connectSsh, type SshConnector} from './ssh/session.js'

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

/** Node's types say isTTY is a boolean, but a stream that is not a terminal leaves it undefined. */
function isTerminal(stream: {isTTY?: boolean}): boolean {
  return Boolean(stream.isTTY)
}

function realDeps(): Deps {
  return {
    runner: new ExecaRunner(),
    connectSsh,
    isInteractive: () => isTerminal(process.stdin) && isTerminal(process.stdout),
    confirm: askOnTerminal,
    env: process.env,
    now: () => new Date(),
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
