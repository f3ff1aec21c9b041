/**
 * Turns what a person writes in an answer sheet into one canonical value, so that `136`, ` 136 ` and "136" are
 * the same exit code, and `SIGFPE`, `sigfpe`, `FPE`, `8` and "Floating point exception" the same signal.
 * Each function returns {value} or {problem}: a sentence saying why the text is not an answer of that kind.
 */

export type Normalized<T> = {ok: true; value: T} | {ok: false; problem: string}

const ok = <T>(value: T): Normalized<T> => ({ok: true, value})
const notOk = (problem: string): Normalized<never> => ({ok: false, problem})

/** Linux signal numbers (the same on x86-64 and arm64). */
export const SIGNALS: Readonly<Record<string, number>> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11,
  USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21,
  TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31,
}

/** What a shell prints when a child dies of the signal: a person may copy that as the answer. */
const SIGNAL_DESCRIPTIONS: Readonly<Record<string, number>> = {
  'hangup': 1, 'interrupt': 2, 'quit': 3, 'illegal instruction': 4, 'trace/breakpoint trap': 5, 'aborted': 6,
  'bus error': 7, 'floating point exception': 8, 'killed': 9, 'segmentation fault': 11, 'broken pipe': 13,
  'alarm clock': 14, 'terminated': 15,
}

/** The canonical name of a signal number, e.g. 8 → "SIGFPE" (for messages about the learner's own answer). */
export function signalName(signal: number): string {
  const name = Object.entries(SIGNALS).find(([, number]) => number === signal)?.[0]
  return name ? `SIG${name}` : `signal ${signal}`
}

function describe(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input)
  if (Array.isArray(input)) return 'a list'
  if (typeof input === 'object' && input !== null) return 'a set of keys'
  return String(input)
}

/** Strips spaces and one pair of surrounding quotes a person may have typed inside a YAML value. */
function unquote(text: string): string {
  let trimmed = text.trim()
  const first = trimmed[0]
  if (trimmed.length >= 2 && (first === '"' || first === "'" || first === '`') && trimmed.endsWith(first)) {
    trimmed = trimmed.slice(1, -1).trim()
  }
  return trimmed
}

/** The text of an answer: numbers and strings only (a list or a map is never an answer). */
function answerText(input: unknown): string | undefined {
  if (typeof input === 'number' && Number.isFinite(input)) return String(input)
  if (typeof input === 'bigint') return String(input)
  if (typeof input === 'string') return unquote(input)
  return undefined
}

/** True when the sheet has no answer for the key yet: missing, null (`key:`), or blank text. */
export function isBlank(input: unknown): boolean {
  return input === undefined || input === null || (typeof input === 'string' && unquote(input) === '')
}

export function normalizeInteger(input: unknown): Normalized<number> {
  const text = answerText(input)
  if (text === undefined || !/^[+-]?\d+$/.test(text)) return notOk(`${describe(input)} is not a whole number`)
  const value = Number(text)
  if (!Number.isSafeInteger(value)) return notOk(`${describe(input)} is too large`)
  return ok(value)
}

/** An exit status: a whole number 0–255. `$?` after a signal death is 128 + the signal's number. */
export function normalizeExitCode(input: unknown): Normalized<number> {
  const text = answerText(input)
  const integer = normalizeInteger(text === undefined ? input : text.replace(/^\$\?\s*(=|is)?\s*/i, ''))
  if (!integer.ok) return notOk(`${describe(input)} is not an exit code (a whole number from 0 to 255)`)
  if (integer.value < 0 || integer.value > 255) return notOk(`${describe(input)} is not an exit code: exit codes run from 0 to 255`)
  return integer
}

/**
 * A signal: a number (8), a name with or without SIG in any case (SIGFPE, sigfpe, FPE), a name and a number that
 * agree ("SIGFPE (8)", "8/FPE"), or what the shell printed ("Floating point exception").
 */
export function normalizeSignal(input: unknown): Normalized<number> {
  const text = answerText(input)
  const invalid = notOk(`${describe(input)} is not a signal: write its name (like SIGHUP or HUP) or its number (like 1)`)
  if (text === undefined || text === '') return invalid
  const lowered = text.toLowerCase().replace(/\s*\(core dumped\)\s*$/, '').replace(/\s+/g, ' ').trim()
  const described = SIGNAL_DESCRIPTIONS[lowered]
  if (described !== undefined) return ok(described)
  const tokens = text.split(/[^A-Za-z0-9]+/).filter(Boolean)
  if (tokens.length === 0 || tokens.length > 2) return invalid
  const numbers = new Set<number>()
  for (const token of tokens) {
    if (/^\d+$/.test(token)) {
      const number = Number(token)
      if (number < 1 || number > 64) return notOk(`${describe(input)} is not a signal: Linux signals are numbered 1 to 64`)
      numbers.add(number)
      continue
    }
    const upper = token.toUpperCase()
    const bare = upper.startsWith('SIG') && upper !== 'SIG' ? upper.slice(3) : upper
    const number = SIGNALS[bare]
    if (number === undefined) return invalid
    numbers.add(number)
  }
  if (numbers.size !== 1) return notOk(`${describe(input)} names two different signals`)
  const [only] = numbers
  return only === undefined ? invalid : ok(only)
}

/**
 * A word or short phrase: lowercase, hyphens/underscores/runs of spaces become one space, surrounding quotes,
 * a leading "the" and trailing punctuation go. "The OOM-killer." → "oom killer".
 */
export function normalizeWord(input: unknown): Normalized<string> {
  const text = answerText(input)
  if (text === undefined) return notOk(`${describe(input)} is not a word`)
  const word = text.toLowerCase()
    .replace(/[’']s\b/g, '')
    .replace(/[\s_-]+/g, ' ')
    .replace(/[.!?,;:]+$/g, '')
    .trim()
    .replace(/^the /, '')
  if (!word) return notOk(`${describe(input)} is not a word`)
  return ok(word)
}

/**
 * A time in milliseconds, as a tool prints it or a person copies it: `812`, `812.345`, `812.345 [ms]`, `812 ms`,
 * `0.81 s`, `0,81 s` (a decimal comma). A bare number is milliseconds.
 */
export function normalizeMilliseconds(input: unknown): Normalized<number> {
  const text = answerText(input)
  const match = text === undefined ? null : /^(\d+(?:[.,]\d+)?)\s*(?:\[\s*)?(ms|msec|milliseconds?|s|sec|seconds?)?(?:\s*\])?$/i.exec(text)
  if (!match) return notOk(`${describe(input)} is not a time (a number of milliseconds, such as 812 or 812.3 ms)`)
  const number = Number((match[1] ?? '').replace(',', '.'))
  const seconds = /^s/i.test(match[2] ?? '')
  return ok(seconds ? number * 1000 : number)
}

export type AnswerKind = 'exit-code' | 'signal' | 'integer' | 'word' | 'milliseconds'

export function normalizeAs(kind: AnswerKind, input: unknown): Normalized<number | string> {
  switch (kind) {
    case 'exit-code': return normalizeExitCode(input)
    case 'signal': return normalizeSignal(input)
    case 'integer': return normalizeInteger(input)
    case 'word': return normalizeWord(input)
    case 'milliseconds': return normalizeMilliseconds(input)
  }
}

/** Shows a learner's (normalised) answer back to them in a message. */
export function showAnswer(kind: AnswerKind, value: number | string): string {
  if (kind === 'signal' && typeof value === 'number') return `${signalName(value)} (${value})`
  if (kind === 'milliseconds' && typeof value === 'number') return `${Number(value.toFixed(1))} ms`
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}
