import {join} from 'node:path'

import {interleaved, ratioLine, timeCommand} from './measure.js'

/** `chaos-lab --version` and `--help` against a bare `node -e 0`, interleaved in the same run. */
export function benchStartup(root: string, rounds = 15): string[] {
  const bin = join(root, 'bin', 'run.js')
  const times = interleaved({
    node: () => timeCommand(process.execPath, ['-e', '0']),
    version: () => timeCommand(process.execPath, [bin, '--version']),
    help: () => timeCommand(process.execPath, [bin, '--help']),
  }, rounds)
  return [
    ratioLine('startup: chaos-lab --version / node -e 0', times.version!, times.node!, 3),
    ratioLine('startup: chaos-lab --help / node -e 0', times.help!, times.node!),
  ]
}
