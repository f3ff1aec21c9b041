import {z} from 'zod'

/**
 * The subset of Chaos Toolkit's experiment format (https://chaostoolkit.org/reference/api/experiment/) that a
 * lab needs: title, description, a steady-state hypothesis of probes with tolerances, a method of actions,
 * probes and pauses, and rollbacks. Providers run in the lab machine over SSH: `process` (a program and its
 * arguments), `http` (a GET with curl, in the machine) and chaos-lab's `load` (the load generator's figures so
 * far). The load generator itself is described in the experiment's `extensions` (Chaos Toolkit's place for
 * what a tool adds). Keys Chaos Toolkit has that the lab does not use (configuration, secrets, controls) are
 * refused, so an experiment never silently means less than it says.
 */

const text = (what: string) => z.string({error: `${what} must be text`}).trim().min(1, {error: `${what} must not be empty`})
const seconds = (what: string) => z.number({error: `${what} must be a number of seconds`}).min(0, {error: `${what} must not be negative`}).max(3600, {error: `${what} must be at most 3600`})
const HTTP_URL = /^http:\/\/[A-Za-z0-9.:[\]-]+(\/[A-Za-z0-9._~/%?=&-]*)?$/

const processProvider = z.strictObject({
  type: z.literal('process'),
  /** A program: a path or a name on the machine's PATH. */
  path: text('provider.path'),
  /** One string is split on spaces (as Chaos Toolkit does); a list is passed as it is, each one word. */
  arguments: z.union([z.string(), z.array(z.union([z.string(), z.number()]))]).optional(),
  timeout: seconds('provider.timeout').positive().optional(),
})

const httpProvider = z.strictObject({
  type: z.literal('http'),
  url: z.string({error: 'provider.url must be text'}).regex(HTTP_URL, {error: 'provider.url must be a plain http:// URL, like http://127.0.0.1:8003/api/v1/'}),
  method: z.literal('GET', {error: 'provider.method must be GET (the only one the lab uses)'}).default('GET'),
  timeout: seconds('provider.timeout').positive().default(5),
})

/** chaos-lab's: the load generator's counts since it started (failed = no answer, non2xx, errors = both). */
export const LOAD_MEASURES = ['errors', 'failed', 'non2xx', 'ok', 'requests'] as const
const loadProvider = z.strictObject({
  type: z.literal('load'),
  measure: z.enum(LOAD_MEASURES, {error: `provider.measure must be one of ${LOAD_MEASURES.join(', ')}`}),
})

const provider = z.discriminatedUnion('type', [processProvider, httpProvider, loadProvider], {
  error: 'provider.type must be process, http or load',
})

/** Chaos Toolkit's tolerances: a value (exit code, status, bool, text), a list of values, a regex or a range. */
const tolerance = z.union([
  z.number(),
  z.boolean(),
  z.string(),
  z.array(z.union([z.number(), z.string(), z.boolean()])).min(1),
  z.strictObject({type: z.literal('regex'), pattern: text('tolerance.pattern'), target: z.enum(['stdout', 'stderr', 'body']).optional()}),
  z.strictObject({type: z.literal('range'), range: z.tuple([z.number(), z.number()]), target: z.string().optional()}),
], {error: 'tolerance must be a value, a list of values, {type: regex, pattern} or {type: range, range: [low, high]}'})
export type Tolerance = z.output<typeof tolerance>

const pauses = z.strictObject({before: seconds('pauses.before').optional(), after: seconds('pauses.after').optional()})

const activityCommon = {
  name: text('name'),
  pauses: pauses.optional(),
}

const probe = z.strictObject({...activityCommon, type: z.literal('probe'), provider, tolerance: tolerance.optional()})
const action = z.strictObject({...activityCommon, type: z.literal('action'), provider})
/** Chaos Toolkit's pause-only step is an action's `pauses`; a bare `{type: pause, seconds}` is chaos-lab's shorthand. */
const pause = z.strictObject({type: z.literal('pause'), name: text('name').optional(), seconds: seconds('seconds')})

const activity = z.discriminatedUnion('type', [probe, action, pause], {error: 'type must be probe, action or pause'})
export type Activity = z.output<typeof activity>
export type Probe = z.output<typeof probe>
export type Action = z.output<typeof action>
export type Provider = z.output<typeof provider>

const hypothesisProbe = probe.refine((p) => p.tolerance !== undefined, {error: 'a probe of the steady-state hypothesis needs a tolerance'})

export const LOAD_GENERATORS = ['sampler', 'ab'] as const
export type LoadGenerator = (typeof LOAD_GENERATORS)[number]

/** The load generator, in the VM for the whole run (before the first hypothesis check until after the last). */
const loadSpec = z.strictObject({
  url: z.string({error: 'load.url must be text'}).regex(HTTP_URL, {error: 'load.url must be a plain http:// URL'}),
  concurrency: z.number().int().min(1).max(64).default(10),
  /** Seconds of load before the hypothesis is first checked (its baseline). */
  warmup: seconds('load.warmup').default(3),
  /** Stops on its own after this long, whatever happens to chaos-lab's connection. */
  maxSeconds: seconds('load.maxSeconds').positive().default(600),
  /**
   * Who makes the requests: chaos-lab's sampler (Python clients, latency per second) or the book's ab (its own
   * summary is the run's totals; no latency per second). Both: fresh connection per request, 10 clients by default.
   */
  generator: z.enum(LOAD_GENERATORS, {error: `load.generator must be ${LOAD_GENERATORS.join(' or ')}`}).default('sampler'),
})
export type LoadSpec = z.output<typeof loadSpec>

const chaosLabExtension = z.strictObject({
  name: z.literal('chaos-lab'),
  load: loadSpec.optional(),
  /** Lines of an action's output matching this regex are marked on the chart (each kill). */
  marks: text('marks').optional(),
})

export const experimentSchema = z.strictObject({
  version: z.string().optional(),
  title: text('title'),
  description: text('description'),
  tags: z.array(z.string()).default([]),
  'steady-state-hypothesis': z.strictObject({
    title: text('steady-state-hypothesis.title'),
    probes: z.array(hypothesisProbe).min(1, {error: 'the hypothesis needs at least one probe'}),
  }),
  method: z.array(activity).min(1, {error: 'the method needs at least one activity'}),
  rollbacks: z.array(action).default([]),
  extensions: z.array(chaosLabExtension).max(1).default([]),
})

export type Experiment = z.output<typeof experimentSchema>

/** The chaos-lab extension of an experiment (load generator, marks), or an empty one. */
export function chaosLabExtensionOf(experiment: Experiment): {load?: LoadSpec; marks?: string} {
  const found = experiment.extensions[0]
  return {...(found?.load ? {load: found.load} : {}), ...(found?.marks ? {marks: found.marks} : {})}
}

/** The experiment with another load generator (`experiment run --generator`); undefined when it has no load. */
export function withLoadGenerator(experiment: Experiment, generator: LoadGenerator): Experiment | undefined {
  const found = experiment.extensions[0]
  if (!found?.load) return undefined
  return {...experiment, extensions: [{...found, load: {...found.load, generator}}]}
}
