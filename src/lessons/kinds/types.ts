import type {ExecOptions, ExecResult} from '../../ssh/session.js'
import type {AnswerSheet} from '../answers.js'
import type {Check, Lesson, ParamName} from '../schema.js'

/** What one attempt of a check concluded. `error` means no verdict could be reached (never a pass). */
export interface Verdict {
  status: 'pass' | 'fail' | 'error'
  message: string
  /** Replaces the check's own hint (e.g. "answer X in ~/answers/lesson-2.yaml. <hint>"). */
  hint?: string
}

/** Run-time values from the command: the VM size the learner configured, and where that came from. */
export interface Params {
  values: Record<ParamName, number>
  /** Said in messages: "from chaos-lab.yaml", "from --memory/--cpus", "the book's defaults …". */
  source: string
}

/** What a check kind gets to do its work: everything goes through here, so the runner controls time and SSH. */
export interface CheckContext {
  readonly lesson: Lesson
  readonly params: Params
  /** Runs a command over the run's one SSH session, within the attempt's time limit. */
  exec(command: string): Promise<ExecResult>
  /** The answer sheet, read once per run. */
  answers(): Promise<AnswerSheet>
  /** A truth command's result, run once per run even when several checks share it. */
  truth(command: string): Promise<ExecResult>
  /** The run's SSH session itself, lines as they come: for experiments, which run alone. */
  session: {exec(command: string, options?: ExecOptions): Promise<ExecResult>}
  /** Waits (an experiment's warm-up and pauses); tests pass one that does not. */
  readonly sleep: (ms: number) => Promise<void>
  /** A number in [0, 1): random inputs (FizzBuzz's N); tests pass a fixed sequence. */
  random(): number
}

export type CheckRunner<C extends Check = Check> = (check: C, ctx: CheckContext) => Promise<Verdict>

/** The first line of a command's output, shortened: enough to show in a one-line message. */
export function firstLine(text: string, max = 100): string {
  const line = text.split('\n').map((l) => l.trim()).find(Boolean) ?? ''
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}

/** How a command ended, in words: "exit code 2" or "killed by SIGKILL". */
export function describeEnd(result: ExecResult): string {
  return result.code === null ? `killed by SIG${result.signal ?? '?'}` : `exit code ${result.code}`
}
