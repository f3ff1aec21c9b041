import {z} from 'zod'

import {LEARNER} from '../config/learner.js'
import {CHAPTERS} from '../config/schema.js'

/**
 * labs/<lesson>/lab.yaml: what `chaos-lab check <lesson>` verifies. Strict: an unknown key is an error (with a
 * "did you mean"), so a typo never silently turns a check off. See labs/README.md for the format.
 */

export const CHECK_KINDS = ['answer', 'state', 'behaviour', 'probe', 'experiment'] as const
export type CheckKind = (typeof CHECK_KINDS)[number]
export const ANSWER_KINDS = ['exit-code', 'signal', 'integer', 'word', 'milliseconds'] as const
export const PROBES = ['fizzbuzz'] as const
/** The provisioning profiles (chaos-lab.yaml's `profile`); a check may apply to one of them only. */
export const CHECK_PROFILES = ['desktop', 'headless'] as const

/** Values the command passes in at run time (from chaos-lab.yaml, flags, or the book's defaults). */
export const PARAMS = ['memoryMb', 'cpus'] as const
export type ParamName = (typeof PARAMS)[number]

const ID = /^[a-z0-9][a-z0-9-]*$/
const ANSWER_KEY = /^[a-z][a-z0-9_]*$/
/** A path under the learner's home: plain characters only, because it is pasted into a shell command. */
const SHEET_PATH = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/
const HTTP_URL = /^http:\/\/[A-Za-z0-9.:[\]-]+(\/[A-Za-z0-9._~/-]*)?$/

const text = (what: string) => z.string({error: `${what} must be text`}).trim().min(1, {error: `${what} must not be empty`})

const regex = (what: string, groups?: number) => text(what).superRefine((source, ctx) => {
  let compiled: RegExp
  try {
    compiled = new RegExp(source, 'm')
  } catch (error) {
    ctx.addIssue({code: 'custom', message: `${what} is not a valid regular expression (${(error as Error).message})`})
    return
  }
  if (groups !== undefined) {
    const count = (new RegExp(`${compiled.source}|`).exec('') ?? []).length - 1
    if (count !== groups) ctx.addIssue({code: 'custom', message: `${what} must have exactly ${groups} capture group (…), it has ${count}`})
  }
})

const regexes = (what: string) => z.union([regex(what), z.array(regex(what)).min(1)], {error: `${what} must be a regular expression or a list of them`})
  .transform((value) => (Array.isArray(value) ? value : [value]))

/** A bound: a number, or a run-time parameter times a factor ({param: memoryMb, factor: 0.85}). */
const bound = (what: string) => z.union([
  z.number({error: `${what} must be a number`}),
  z.strictObject({
    param: z.enum(PARAMS, {error: `${what}.param must be one of ${PARAMS.join(', ')}`}),
    factor: z.number({error: `${what}.factor must be a number`}).positive({error: `${what}.factor must be positive`}).default(1),
  }),
], {error: `${what} must be a number or {param: ${PARAMS.join('|')}, factor: N}`})
export type Bound = z.output<ReturnType<typeof bound>>

const numberExpectation = z.strictObject({
  /** Names the number in messages: "failed requests: 3 (expected at most 0)". */
  label: text('number.label').optional(),
  pattern: regex('number.pattern', 1),
  min: bound('number.min').optional(),
  max: bound('number.max').optional(),
  /** The value when the pattern does not occur (ab prints no "Non-2xx responses" line when there were none). */
  whenAbsent: z.number({error: 'number.whenAbsent must be a number'}).optional(),
})
export type NumberExpectation = z.output<typeof numberExpectation>

const outputExpectation = z.strictObject({
  exitCode: z.number({error: 'expect.exitCode must be a whole number'}).int().min(0).max(255).default(0),
  stdoutMatches: regexes('expect.stdoutMatches').optional(),
  stdoutNotMatches: regexes('expect.stdoutNotMatches').optional(),
  number: numberExpectation.optional(),
  numbers: z.array(numberExpectation).min(1).optional(),
}).transform(({number, numbers, ...rest}) => ({...rest, numbers: [...(number ? [number] : []), ...(numbers ?? [])]}))
export type OutputExpectation = z.output<typeof outputExpectation>

/** True when an expectation says what the output must contain, not only what it must not (or an exit code). */
export function isPositive(expect: OutputExpectation): boolean {
  return (expect.stdoutMatches?.length ?? 0) > 0 || expect.numbers.length > 0
}

/**
 * An expectation that states what it must see: stdoutMatches or a number. A command that prints nothing (broken,
 * or replaced by `true`) must never pass on stdoutNotMatches or an exit code alone.
 */
const positiveExpectation = (what: string) => outputExpectation.refine(isPositive, {
  error: `${what} must say what the output must show (stdoutMatches, number or numbers), not only what it must not: a command that prints nothing would pass`,
})

const command = (what: string) => text(what)

const common = {
  id: z.string({error: 'id must be text'}).regex(ID, {error: 'id must be lowercase letters, digits and hyphens, like "mystery000-exit-code"'}),
  title: text('title'),
  /** Where to look and how to find it out — never the answer. */
  hint: text('hint'),
  timeoutSec: z.number({error: 'timeoutSec must be a number of seconds'}).positive({error: 'timeoutSec must be positive'}).max(3600, {error: 'timeoutSec must be at most 3600'}).default(30),
  /** Wait until ready: try again after delaySec while the check does not pass. */
  retry: z.strictObject({
    attempts: z.number({error: 'retry.attempts must be a whole number'}).int().min(1).max(100),
    delaySec: z.number({error: 'retry.delaySec must be a number of seconds'}).min(0).max(600).default(1),
  }).optional(),
  needs: z.array(z.string({error: 'needs must list check ids'})).default([]),
  /** Replaces the generated first words of a failure message ("the kernel log shows no OOM kill of mystery001"). */
  failMessage: text('failMessage').optional(),
  /** Only on a VM provisioned with this profile (e.g. the desktop's clipboard agent); left out of other runs. */
  profile: z.enum(CHECK_PROFILES, {error: `profile must be one of ${CHECK_PROFILES.join(', ')}`}).optional(),
}

const truthSchema = z.union([
  z.strictObject({command: command('truth.command')}),
  z.strictObject({value: z.union([z.string(), z.number(), z.array(z.union([z.string(), z.number()])).min(1)])}),
], {error: 'truth must be {command: "…"} (run in the VM; its output is the truth) or {value: …}'})

const answerCheck = z.strictObject({
  ...common,
  kind: z.literal('answer'),
  /** The key in the answer sheet: a contract shared with provisioning, docs and tests. */
  key: z.string({error: 'key must be text'}).regex(ANSWER_KEY, {error: 'key must be lowercase letters, digits and underscores'}),
  /** The question as the learner reads it (shown by `chaos-lab labs show`). */
  question: text('question'),
  expect: z.strictObject({
    kind: z.enum(ANSWER_KINDS, {error: `expect.kind must be one of ${ANSWER_KINDS.join(', ')}`}),
    truth: truthSchema,
    /**
     * milliseconds only (and required there): how close to a truth an answer must be, e.g. a time the learner read
     * off a tool against the same time measured in the VM. A truth command may print several truths, one a line
     * (each run of the tool): the answer must be close to one of them.
     */
    within: z.strictObject({
      percent: z.number({error: 'within.percent must be a number'}).min(0).max(100),
      atLeast: z.number({error: 'within.atLeast must be a number (in the answer\'s unit)'}).min(0).default(0),
    }).optional(),
  }),
})

const stateCheck = z.strictObject({
  ...common,
  kind: z.literal('state'),
  command: command('command'),
  expect: outputExpectation.prefault({}),
})

const behaviourCheck = z.strictObject({
  ...common,
  kind: z.literal('behaviour'),
  setup: command('setup').optional(),
  run: command('run'),
  /** Always runs, also after a failure, a timeout or a lost connection: puts the VM back as it was. */
  teardown: command('teardown').optional(),
  /**
   * Evidence in run's output that the fault was really injected (kills delivered, restarts counted). Checked
   * before expect: without it the experiment proves nothing and the check is an `error`, never a pass.
   */
  injected: positiveExpectation('injected'),
  expect: outputExpectation.prefault({}),
})

const probeCheck = z.strictObject({
  ...common,
  kind: z.literal('probe'),
  probe: z.enum(PROBES, {error: `probe must be one of ${PROBES.join(', ')}`}),
  url: z.string({error: 'url must be text'}).regex(HTTP_URL, {error: 'url must be a plain http:// URL such as http://127.0.0.1:8003/api/v1/fizzbuzz/'}),
  /** The instances behind a load balancer at url, each asked directly too: every one must answer, as itself. */
  instances: z.array(
    z.string({error: 'instances must list URLs'}).regex(HTTP_URL, {error: 'instances must be plain http:// URLs such as http://127.0.0.1:8001/api/v1/fizzbuzz/'}),
    {error: 'instances must be a list of URLs'},
  ).default([]),
})

/**
 * A chaos experiment of the lesson (labs/<lesson>/experiments/<experiment>.yaml), run by the experiment engine
 * (src/experiments): pass when its hypothesis held, fail when it deviated, error when it could not run or its
 * fault was not injected. Its rollbacks always run, inside the check's time limit (the engine is told to stop
 * 60 s before it, so the rollbacks have that minute).
 */
const experimentCheck = z.strictObject({
  ...common,
  kind: z.literal('experiment'),
  experiment: z.string({error: 'experiment must be text'}).regex(ID, {error: 'experiment must name a file of the lesson\'s experiments/ folder, like "killer-while"'}),
  /** The evidence that the fault was injected: at least this many marks (each kill the killer reported). */
  injected: z.strictObject({
    marks: z.number({error: 'injected.marks must be a whole number'}).int().min(1, {error: 'injected.marks must be at least 1: an experiment that marked nothing injected nothing'}),
  }, {error: 'injected must say what evidence of the fault the experiment must show: {marks: N}'}),
})

export const checkSchema = z.discriminatedUnion('kind', [answerCheck, stateCheck, behaviourCheck, probeCheck, experimentCheck], {
  error: (issue) => issue.code === 'invalid_union'
    ? `kind must be one of ${CHECK_KINDS.join(', ')}${issue.input && typeof issue.input === 'object' && 'kind' in issue.input ? `, not ${JSON.stringify(issue.input.kind)}` : ' (it is missing)'}`
    : undefined,
})

export const lessonSchema = z.strictObject({
  lesson: z.string({error: 'lesson must be text'}).regex(ID, {error: 'lesson must be lowercase letters, digits and hyphens, like "lesson-2"'}),
  title: text('title'),
  description: text('description'),
  /** The book's chapter the lesson belongs to: `check` refuses (exit 2) on a machine provisioned without it. */
  chapter: z.number({error: 'chapter must be a chapter number'}).refine((n) => (CHAPTERS as readonly number[]).includes(n), {
    error: (issue) => `chapter ${JSON.stringify(issue.input)} is not a chapter chaos-lab provides (known: ${CHAPTERS.join(', ')})`,
  }).optional(),
  /** The learner's user in the VM: owns the answer sheet and the book's programs. */
  learner: z.string().regex(USER_NAME, {error: 'learner must be a Unix user name'}).default(LEARNER),
  /** The answer sheet, relative to the learner's home (answers/lesson-2.yaml → ~chaos/answers/lesson-2.yaml). */
  answerSheet: z.string({error: 'answerSheet must be text'}).regex(SHEET_PATH, {error: 'answerSheet must be a plain path under the learner\'s home, like answers/lesson-2.yaml'}).optional(),
  /** Where the lab deliberately differs from the book: shown by `chaos-lab labs show` as a short table. */
  differences: z.array(z.strictObject({
    topic: text('differences.topic'),
    book: text('differences.book'),
    lab: text('differences.lab'),
  }), {error: 'differences must be a list of {topic, book, lab}'}).default([]),
  checks: z.array(checkSchema, {error: 'checks must be a list of checks'}).min(1, {error: 'checks must list at least one check'}),
})

export type LessonInput = z.input<typeof lessonSchema>
export type Lesson = z.output<typeof lessonSchema>
export type Check = Lesson['checks'][number]
export type AnswerCheck = Extract<Check, {kind: 'answer'}>
export type StateCheck = Extract<Check, {kind: 'state'}>
export type BehaviourCheck = Extract<Check, {kind: 'behaviour'}>
export type ProbeCheck = Extract<Check, {kind: 'probe'}>
export type ExperimentCheck = Extract<Check, {kind: 'experiment'}>
export type Truth = AnswerCheck['expect']['truth']

/** Every key each part of a lab.yaml may have, for "did you mean" on unknown keys. */
export const KNOWN_KEYS = {
  lesson: Object.keys(lessonSchema.shape),
  answer: Object.keys(answerCheck.shape),
  state: Object.keys(stateCheck.shape),
  behaviour: Object.keys(behaviourCheck.shape),
  probe: Object.keys(probeCheck.shape),
  experiment: Object.keys(experimentCheck.shape),
  expect: ['exitCode', 'stdoutMatches', 'stdoutNotMatches', 'number', 'numbers'],
  difference: ['topic', 'book', 'lab'],
  answerExpect: ['kind', 'truth', 'within'],
  number: Object.keys(numberExpectation.shape),
  retry: ['attempts', 'delaySec'],
} as const
