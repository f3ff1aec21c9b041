import {normalizeAs, showAnswer, isBlank, type AnswerKind} from '../normalize.js'
import {sheetShownAs} from '../answers.js'
import {CheckCannotRunError} from '../cannot-run.js'
import type {AnswerCheck, Truth} from '../schema.js'
import {describeEnd, firstLine, type CheckContext, type CheckRunner} from './types.js'

const FORMS: Record<AnswerKind, string> = {
  'exit-code': 'a whole number from 0 to 255',
  'signal': 'a signal name (like SIGHUP or HUP) or its number',
  'integer': 'a whole number',
  'word': 'a word or a few words',
  'milliseconds': 'a time in milliseconds (such as 812 or 812.3 ms)',
}

/** The accepted values for a truth, normalised like the learner's answer. */
async function truthValues(kind: AnswerKind, truth: Truth, ctx: CheckContext): Promise<(string | number)[]> {
  if ('value' in truth) {
    const raw = Array.isArray(truth.value) ? truth.value : [truth.value]
    return raw.map((value) => {
      const normalized = normalizeAs(kind, value)
      // Load-time validation keeps this from happening; stay safe anyway.
      if (!normalized.ok) throw new CheckCannotRunError(`The lab's truth ${JSON.stringify(value)} is not valid: ${normalized.problem}.`)
      return normalized.value
    })
  }
  const result = await ctx.truth(truth.command)
  if (result.code !== 0) {
    const said = firstLine(result.stderr) || firstLine(result.stdout)
    throw new CheckCannotRunError(
      `Could not work out the right answer in the VM: the command ended with ${describeEnd(result)}${said ? ` (${said})` : ''}.`,
      'The lab VM is missing something this check needs: run `chaos-lab check lesson-1` to see what, and `chaos-lab provision` to repair it.',
    )
  }
  // A milliseconds truth may be several measurements, one a line (the answer must be near one of them).
  const lines = kind === 'milliseconds' ? result.stdout.split('\n').map((line) => line.trim()).filter(Boolean) : [result.stdout.trim()]
  if (lines.length === 0) {
    throw new CheckCannotRunError(
      'Could not work out the right answer in the VM: its command printed no measurement.',
      'The lab VM is not as provisioned: run `chaos-lab check lesson-1`, and `chaos-lab provision` to repair it.',
    )
  }
  return lines.map((line) => {
    const normalized = normalizeAs(kind, line)
    if (!normalized.ok) {
      throw new CheckCannotRunError(
        `Could not work out the right answer in the VM: its command printed "${firstLine(line)}" (${normalized.problem}).`,
        'The lab VM is not as provisioned: run `chaos-lab check lesson-1`, and `chaos-lab provision` to repair it.',
      )
    }
    return normalized.value
  })
}

/** Whether an answer matches one of the truths: equal, or for a measurement within the check's margin. */
function matches(check: AnswerCheck, answer: number | string, truths: readonly (number | string)[]): boolean {
  const within = check.expect.within
  if (!within || typeof answer !== 'number') return truths.includes(answer)
  return truths.some((truth) => typeof truth === 'number' && Math.abs(answer - truth) <= Math.max((within.percent / 100) * truth, within.atLeast))
}

/**
 * An answer in the learner's sheet against a truth, computed in the VM where it can be (mystery000's real exit
 * code, the real sysctl values). Messages show the learner's own answer, never the truth.
 */
export const runAnswer: CheckRunner<AnswerCheck> = async (check, ctx) => {
  const sheetPath = sheetShownAs(ctx.lesson.answerSheet ?? '')
  const sheet = await ctx.answers()
  if (sheet.state === 'missing') {
    return {
      status: 'fail',
      message: `the answer sheet ${sheetPath} is missing`,
      hint: `Provisioning writes it with every question in it: run \`chaos-lab provision\` to put it back, then answer ${check.key} there.`,
    }
  }
  if (sheet.state === 'invalid') {
    const where = sheet.line ? `line ${sheet.line} of ${sheetPath}` : sheetPath
    return {
      status: 'fail',
      message: `${sheetPath} is not valid YAML, so no answer in it can be read (${where}: ${sheet.problem})`,
      hint: `Fix ${where}: every answer is one "key: value" line under its question, and text with a ":" or "#" in it goes in quotes.`,
    }
  }
  const raw = sheet.values[check.key]
  if (isBlank(raw)) {
    const missingKey = !(check.key in sheet.values)
    return {
      status: 'fail',
      message: missingKey ? `${check.key} is not in ${sheetPath}` : 'not answered yet',
      hint: `Answer ${check.key} in ${sheetPath}${missingKey ? ` (add a line "${check.key}: …")` : ''}. ${check.hint}`,
    }
  }
  const kind = check.expect.kind
  const answer = normalizeAs(kind, raw)
  if (!answer.ok) {
    return {status: 'fail', message: `${check.key}: ${answer.problem}`, hint: `Write ${check.key} as ${FORMS[kind]}. ${check.hint}`}
  }
  const truths = await truthValues(kind, check.expect.truth, ctx)
  const shown = showAnswer(kind, answer.value)
  const within = check.expect.within
  if (within) {
    if (matches(check, answer.value, truths)) return {status: 'pass', message: `${check.key}: ${shown} is what the VM measured (within ${within.percent} %)`}
    return {status: 'fail', message: `${check.key}: ${shown} is not within ${within.percent} % of what the VM measured`}
  }
  if (matches(check, answer.value, truths)) return {status: 'pass', message: `${check.key}: ${shown} is right`}
  return {status: 'fail', message: `${check.key}: ${shown} is not right`}
}
