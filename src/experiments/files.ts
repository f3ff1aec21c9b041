import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {basename, join, resolve} from 'node:path'

import {ConfigError, UsageError} from '../errors.js'
import {closest} from '../util/did-you-mean.js'
import {packagePath} from '../util/paths.js'
import {parseYamlWithLines} from '../util/yaml-errors.js'
import {experimentSchema, type Experiment} from './schema.js'

/** Experiments live beside their lesson: labs/<lesson>/experiments/<name>.yaml. */
export const EXPERIMENTS_DIR = 'experiments'

export interface ExperimentFile {
  /** The file name without .yaml: what `chaos-lab experiment run NAME` takes. */
  name: string
  lesson: string
  file: string
}

/** Every experiment file under labs/, by lesson then name. */
export function listExperimentFiles(root = packagePath('labs')): ExperimentFile[] {
  if (!existsSync(root)) return []
  const lessons = readdirSync(root, {withFileTypes: true}).filter((entry) => entry.isDirectory()).map((entry) => entry.name)
    .sort((a, b) => a.localeCompare(b, 'en', {numeric: true}))
  return lessons.flatMap((lesson) => {
    const dir = join(root, lesson, EXPERIMENTS_DIR)
    if (!existsSync(dir)) return []
    return readdirSync(dir).filter((file) => file.endsWith('.yaml')).sort()
      .map((file) => ({name: basename(file, '.yaml'), lesson, file: join(dir, file)}))
  })
}

const pathText = (path: readonly PropertyKey[]) => path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('').replace(/^\./, '')

/** Parses and validates an experiment's YAML (or JSON) text; every problem with its line. */
export function parseExperiment(text: string, file: string): Experiment {
  const fix = `Fix ${file}: the format is Chaos Toolkit's experiment (src/experiments/README.md lists the subset chaos-lab runs).`
  const parsed = parseYamlWithLines(text, file, fix)
  const raw: unknown = parsed.document.toJS() ?? {}
  const result = experimentSchema.safeParse(raw)
  if (result.success) {
    const bad = result.data.extensions[0]?.marks
    if (bad !== undefined) {
      try {
        new RegExp(bad)
      } catch (error) {
        throw new ConfigError(`${file}: extensions[0].marks is not a valid regular expression (${(error as Error).message}).`, {suggestion: fix}, 'experiment_invalid')
      }
    }
    return result.data
  }
  const problems = result.error.issues.map((issue) => {
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, ...issue.keys.slice(0, 1)] : issue.path
    const line = parsed.lineOf(path)
    const where = pathText(issue.path)
    const message = issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message.replace(/^Invalid input: /, '')
    return {line, text: `${line ? `line ${line}: ` : ''}${where ? `${where}: ` : ''}${message}`}
  }).sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER)).map((problem) => problem.text)
  throw new ConfigError(`${file} is not a valid experiment:\n  - ${problems.join('\n  - ')}`, {suggestion: fix, data: {file}}, 'experiment_invalid')
}

/** An experiment by name (labs/*\/experiments/NAME.yaml) or by the path of a file; unknown names are exit 2. */
export function findExperiment(nameOrFile: string, root = packagePath('labs')): ExperimentFile {
  if (/[/\\]|\.(ya?ml|json)$/.test(nameOrFile)) {
    const file = resolve(nameOrFile)
    if (!existsSync(file)) throw new UsageError(`There is no experiment file ${file}.`, {suggestion: 'Check the path, or run `chaos-lab experiment list` for the lab\'s experiments.'}, 'unknown_experiment')
    return {name: basename(file).replace(/\.(ya?ml|json)$/, ''), lesson: '', file}
  }
  const known = listExperimentFiles(root)
  const found = known.find((experiment) => experiment.name === nameOrFile)
  if (found) return found
  const near = closest(nameOrFile, known.map((experiment) => experiment.name))
  throw new UsageError(`There is no experiment "${nameOrFile}".${near ? ` Did you mean "${near}"?` : ''}`, {
    suggestion: `Known experiments: ${known.map((experiment) => experiment.name).join(', ') || 'none'}. Run \`chaos-lab experiment list\`.`,
    data: {experiment: nameOrFile, known: known.map((experiment) => experiment.name)},
  }, 'unknown_experiment')
}

export function loadExperiment(file: ExperimentFile): Experiment {
  return parseExperiment(readFileSync(file.file, 'utf8'), file.file)
}

/** A lesson's experiment: labs/<lesson>/experiments/<name>.yaml, validated; missing or invalid is a ConfigError. */
export function loadLessonExperiment(lesson: string, name: string, root = packagePath('labs')): Experiment {
  const file = join(root, lesson, EXPERIMENTS_DIR, `${name}.yaml`)
  if (!existsSync(file)) {
    throw new ConfigError(`${lesson} has a check of kind experiment that names "${name}", but ${file} does not exist.`, {suggestion: `Add the experiment file, or name one of ${lesson}'s experiments/ files.`}, 'experiment_missing')
  }
  return parseExperiment(readFileSync(file, 'utf8'), file)
}
