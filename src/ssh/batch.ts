import {randomBytes} from 'node:crypto'

import {shellQuote} from '../util/shell.js'
import {commandTimeoutError, type ExecResult, type SshSession} from './session.js'

/**
 * Commands asked for together go to the machine as one bash script on one SSH channel, instead of one channel
 * (and one login shell) each. `chaos-lab check` starts its independent checks at once; on a classroom server
 * running sixty VMs, every shell and channel is CPU the VMs share. The script runs the commands side by side
 * and reports each one as soon as it ends, so a slow command never holds up the others' results.
 *
 * "Together" means within one turn of Node's event loop: calls made before the queued flush runs
 * (setImmediate) share a script. One command alone runs as a plain exec.
 *
 * Each command behaves as it would on its own channel: run by bash in a subshell of its own, stdin empty, its
 * own stdout, stderr and exit code, its own time limit. Two differences, both harmless for checks: the output
 * comes back as lines (a last line without a newline gets one; NUL bytes are dropped), and a command that died
 * of a signal reports 128+N as its exit code. When the script cannot run at all (no bash on the machine, or a
 * test double that only knows single commands), each command it did not report on is run on its own channel.
 */
export class CommandBatcher {
  private queue: Pending[] = []
  private flushScheduled = false

  constructor(private readonly session: Pick<SshSession, 'exec' | 'target'>, private readonly maxBatch = 32) {}

  exec(command: string, options: {timeoutMs?: number} = {}): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs
      this.queue.push({command, deadline, timeoutMs: options.timeoutMs, resolve, reject, settled: false})
      if (!this.flushScheduled) {
        this.flushScheduled = true
        setImmediate(() => { this.flush() })
      }
    })
  }

  private flush(): void {
    this.flushScheduled = false
    const queued = this.queue
    this.queue = []
    for (let start = 0; start < queued.length; start += this.maxBatch) {
      const [first, ...rest] = queued.slice(start, start + this.maxBatch)
      if (!first) continue
      if (rest.length === 0) void this.runAlone(first)
      else void this.runTogether([first, ...rest])
    }
  }

  private timedOut(pending: Pending): void {
    settle(pending, () => { pending.reject(commandTimeoutError(this.session.target.name, pending.timeoutMs ?? 0)) })
  }

  private async runAlone(pending: Pending): Promise<void> {
    const timeoutMs = pending.deadline === undefined ? undefined : pending.deadline - Date.now()
    if (timeoutMs !== undefined && timeoutMs <= 0) {
      this.timedOut(pending)
      return
    }
    try {
      const result = await this.session.exec(pending.command, timeoutMs === undefined ? {} : {timeoutMs})
      settle(pending, () => { pending.resolve(result) })
    } catch (error) {
      settle(pending, () => { pending.reject(error) })
    }
  }

  private async runTogether(batch: Pending[]): Promise<void> {
    const marker = `@@chaos-lab-${randomBytes(6).toString('hex')}`
    const reports = batch.map((pending) => ({
      stdout: [] as string[],
      stderr: [] as string[],
      timer: pending.deadline === undefined ? undefined : setTimeout(() => { this.timedOut(pending) }, pending.deadline - Date.now()),
    }))
    const onLine = (line: string, stream: 'stdout' | 'stderr') => {
      const frame = stream === 'stdout' ? parseFrame(line, marker) : undefined
      const pending = frame && batch[frame.index]
      const report = frame && reports[frame.index]
      if (!frame || !pending || !report) return
      if (frame.kind !== 'end') {
        (frame.kind === 'o' ? report.stdout : report.stderr).push(frame.text)
        return
      }
      clearTimeout(report.timer)
      const result: ExecResult = {code: frame.code, signal: null, stdout: joinLines(report.stdout), stderr: joinLines(report.stderr)}
      settle(pending, () => { pending.resolve(result) })
    }
    // The script may run as long as its slowest command may; each command's own limit is its timer above.
    const deadlines = batch.flatMap((pending) => (pending.deadline === undefined ? [] : [pending.deadline]))
    const limit = deadlines.length === batch.length ? {timeoutMs: Math.max(...deadlines) - Date.now() + 1000} : {}
    let failure: unknown
    try {
      await this.session.exec('exec bash -s', {stdin: batchScript(batch.map((pending) => pending.command), marker), onLine, ...limit})
    } catch (error) {
      failure = error
    }
    for (const report of reports) clearTimeout(report.timer)
    const unreported = batch.filter((pending) => !pending.settled)
    if (failure) {
      // The connection went, or the script outlived every time limit: asking again would fail the same way.
      for (const pending of unreported) settle(pending, () => { pending.reject(failure) })
      return
    }
    // The script ended without reporting them (no bash there): each on a channel of its own.
    await Promise.all(unreported.map((pending) => this.runAlone(pending)))
  }

}

interface Pending {
  command: string
  deadline: number | undefined
  timeoutMs: number | undefined
  resolve: (result: ExecResult) => void
  reject: (error: unknown) => void
  settled: boolean
}

function settle(pending: Pending, action: () => void): void {
  if (pending.settled) return
  pending.settled = true
  action()
}

function joinLines(lines: string[]): string {
  return lines.length ? `${lines.join('\n')}\n` : ''
}

type Frame = {index: number; kind: 'o' | 'e'; text: string} | {index: number; kind: 'end'; code: number}

/** `MARKER I o TEXT` (a stdout line of command I), `MARKER I e TEXT` (stderr), `MARKER I end CODE` (it ended). */
export function parseFrame(line: string, marker: string): Frame | undefined {
  if (!line.startsWith(`${marker} `)) return undefined
  const match = /^(\d+) (o|e|end)(?: (.*))?$/s.exec(line.slice(marker.length + 1))
  if (!match) return undefined
  const index = Number(match[1])
  const rest = match[3] ?? ''
  if (match[2] === 'end') return /^\d+$/.test(rest) ? {index, kind: 'end', code: Number(rest)} : undefined
  return {index, kind: match[2] as 'o' | 'e', text: rest}
}

/**
 * The bash script that runs `commands` side by side and reports each as it ends, every line of its report
 * starting with `marker`. Its own variables start with __ (the commands see them). Besides the commands, it starts only one subshell per command and mktemp and rm once
 * each: on a busy machine each process started costs more than the rest of the work. bash 5.1 and later
 * report each command as it ends (`wait -n -p`); older bash reports them in order.
 */
export function batchScript(commands: readonly string[], marker: string): string {
  return [
    'set +e',
    `__m=${shellQuote(marker)}`,
    '__d=$(mktemp -d) || { echo "chaos-lab: mktemp -d failed" >&2; exit 97; }',
    'trap \'rm -rf -- "$__d"\' EXIT',
    '__report() {',
    '  local __lines',
    '  mapfile -t __lines <"$__d/$1.o"; ((${#__lines[@]} == 0)) || printf "$__m $1 o %s\\n" "${__lines[@]}"',
    '  mapfile -t __lines <"$__d/$1.e"; ((${#__lines[@]} == 0)) || printf "$__m $1 e %s\\n" "${__lines[@]}"',
    '  printf \'%s %s end %s\\n\' "$__m" "$1" "$2"',
    '}',
    'declare -A __index; __pids=()',
    ...commands.flatMap((command, i) => [
      `__c=${shellQuote(command)}`,
      `( eval "$__c" ) >"$__d/${i}.o" 2>"$__d/${i}.e" </dev/null & __index[$!]=${i}; __pids+=($!)`,
    ]),
    'if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 501)); then',
    `  for ((__left = ${commands.length}; __left > 0; __left--)); do`,
    '    unset __pid; wait -n -p __pid; __rc=$?',
    '    [[ -n $__pid ]] || break',
    '    __report "${__index[$__pid]}" "$__rc"',
    '  done',
    'else',
    '  for __i in "${!__pids[@]}"; do wait "${__pids[__i]}"; __report "$__i" "$?"; done',
    'fi',
    '',
  ].join('\n')
}
