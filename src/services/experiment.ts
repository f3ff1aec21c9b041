import {resolve} from 'node:path'

import type {Deps} from '../deps.js'
import type {LabFolder} from '../config/lab-folder.js'
import {runExperiment, type ExperimentEvent} from '../experiments/engine.js'
import {findExperiment, listExperimentFiles, loadExperiment} from '../experiments/files.js'
import {exitCodeForJournal, type Journal} from '../experiments/journal.js'
import {withLoadGenerator, type Experiment, type LoadGenerator} from '../experiments/schema.js'
import {UsageError} from '../errors.js'
import {writeExperimentReport} from '../report/experiment-html.js'
import {targetLabel} from './check.js'
import {resolveMachine, withSession, type TargetFlags} from './machine.js'

/** `chaos-lab experiment list` and `experiment run`: the lab's experiments (labs/<lesson>/experiments/*.yaml). */

export interface ExperimentSummary {
  name: string
  lesson: string
  title: string
  description: string
  file: string
}

export function listExperiments(): ExperimentSummary[] {
  return listExperimentFiles().map((file) => {
    const experiment = loadExperiment(file)
    return {name: file.name, lesson: file.lesson, title: experiment.title, description: experiment.description, file: file.file}
  })
}

export interface ExperimentRunFlags extends Omit<TargetFlags, 'dir'> {
  /** Write report.html and journal.json into this folder. */
  report?: string | undefined
  /** Another load generator than the experiment's own: the book's ab, or chaos-lab's sampler. */
  generator?: LoadGenerator | undefined
}

export interface ExperimentOutcome {
  journal: Journal
  exitCode: 0 | 1 | 3 | 130
  reportFiles: string[]
}

/**
 * Loads the experiment (an unknown or invalid one fails before any connection), opens one SSH session to the
 * machine, runs it with the engine, writes the report. `signal` is Ctrl-C: the rollbacks still run.
 */
export async function runExperimentOn(
  name: string,
  flags: ExperimentRunFlags,
  lab: LabFolder | undefined,
  deps: Deps,
  ui: {onEvent?: (event: ExperimentEvent) => void; signal?: AbortSignal} = {},
): Promise<ExperimentOutcome> {
  const file = findExperiment(name)
  const experiment = generatorFor(loadExperiment(file), file.name, flags.generator)
  const machine = await resolveMachine(flags, lab, deps)
  const journal = await withSession(machine, deps, (session) => runExperiment(experiment, session, {
    name: file.name,
    target: targetLabel(machine),
    now: deps.now,
    sleep: deps.sleep,
    ...ui,
  }))
  const reportFiles = flags.report ? writeExperimentReport(resolve(flags.report), journal) : []
  return {journal, exitCode: exitCodeForJournal(journal), reportFiles}
}

function generatorFor(experiment: Experiment, name: string, generator: LoadGenerator | undefined): Experiment {
  if (generator === undefined) return experiment
  const changed = withLoadGenerator(experiment, generator)
  if (!changed) throw new UsageError(`--generator ${generator}: the experiment ${name} has no load generator to change (its extensions have no chaos-lab load). Run it without --generator, or add a load to it (src/experiments/README.md).`)
  return changed
}
