import {Listr, ListrLogger, ProcessOutput, type ListrTask} from 'listr2'

import {ChaosLabError} from '../errors.js'
import {isTerminal} from './terminal.js'

export interface ProgressOptions {
  /** --json: print nothing but the final JSON. */
  json: boolean
  /** --verbose: every output line, not just a tail. */
  verbose?: boolean
  /** Run top-level tasks side by side (one per host in a fleet run). */
  concurrent?: number | boolean
  /** Keep going when one task fails (fleet runs); the caller reads the failures from its own results. */
  exitOnError?: boolean
}

/** How many of a task's latest output lines stay on screen in a terminal. */
export const TAIL_LINES = 6

/**
 * Runs listr2 tasks with the renderer that fits where we are: a live list with a tail of each task's output
 * in a terminal; one plain line per event elsewhere (CI logs) or with --verbose; nothing under --json.
 * Progress goes to stderr, so stdout carries only results.
 */
export async function runWithProgress<Ctx extends object>(tasks: ListrTask<Ctx>[], ctx: Ctx, options: ProgressOptions): Promise<Ctx> {
  const logger = new ListrLogger({processOutput: new ProcessOutput(process.stderr, process.stderr)})
  const interactive = isTerminal(process.stderr) && !options.verbose && process.env.CI !== 'true'
  const list = new Listr<Ctx, 'default' | 'silent' | 'verbose', 'verbose'>(tasks, {
    ctx,
    concurrent: options.concurrent ?? false,
    exitOnError: options.exitOnError ?? true,
    renderer: options.json ? 'silent' : interactive ? 'default' : 'verbose',
    fallbackRenderer: 'verbose',
    rendererOptions: {logger, collapseSubtasks: false, showErrorMessage: true},
    fallbackRendererOptions: {logger, logTitleChange: false},
    registerSignalListeners: false,
  })
  try {
    return await list.run()
  } catch (error) {
    // The verbose renderer printed the failed tool's lines for good as they came: the final error leaves them out.
    if (!options.json && !interactive && error instanceof ChaosLabError && error.outputStreamed) error.outputShown = true
    throw error
  }
}

/** Default-renderer task options that keep a live tail of the task's output under its title. */
export const liveTail = {bottomBar: TAIL_LINES, persistentOutput: false} as const
