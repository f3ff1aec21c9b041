import {describe, expect, it} from 'vitest'

import {isBlank, normalizeExitCode, normalizeInteger, normalizeMilliseconds, normalizeSignal, normalizeWord, showAnswer} from '../../src/lessons/normalize.js'

const value = <T>(result: {ok: true; value: T} | {ok: false; problem: string}): T | string => (result.ok ? result.value : `problem: ${result.problem}`)

describe('normalizeExitCode', () => {
  it.each([136, '136', ' 136 ', '"136"', "'136'", '`136`', '$? = 136', '+136'])('reads %j as 136', (input) => {
    expect(value(normalizeExitCode(input))).toBe(136)
  })
  it.each([0, 255, '0'])('accepts the range ends (%j)', (input) => {
    expect(normalizeExitCode(input).ok).toBe(true)
  })
  it.each([256, -1, 13.6, 'SIGFPE', 'one hundred', '', '1 36', [136], {code: 136}, true])('refuses %j', (input) => {
    const result = normalizeExitCode(input)
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.problem).toMatch(/exit code/)
  })
})

describe('normalizeSignal', () => {
  it.each(['SIGFPE', 'sigfpe', 'FPE', 'fpe', 8, '8', ' SIGFPE ', '"SIGFPE"', 'SigFpe', 'SIGFPE (8)', '8 - FPE', 'Floating point exception', 'floating point exception (core dumped)'])('reads %j as 8', (input) => {
    expect(value(normalizeSignal(input))).toBe(8)
  })
  it.each([['SIGKILL', 9], ['kill', 9], ['Killed', 9], ['TERM', 15], ['sigterm', 15], ['SIGSEGV', 11], ['SIGIOT', 6], ['SIGABRT', 6], [1, 1]] as const)('reads %j as %d', (input, expected) => {
    expect(value(normalizeSignal(input))).toBe(expected)
  })
  it.each(['SIGFOO', 'SIG', '', 'SIGFPE SIGKILL', 'FPE 9', 0, 65, '-128', 'floating', 'a b c'])('refuses %j', (input) => {
    expect(normalizeSignal(input).ok).toBe(false)
  })
})

describe('normalizeInteger', () => {
  it.each([[0, 0], ['0', 0], [' 1 ', 1], ['"1"', 1], ['-3', -3]] as const)('reads %j as %d', (input, expected) => {
    expect(value(normalizeInteger(input))).toBe(expected)
  })
  it.each(['zero', '1.5', 1.5, '', null, '99999999999999999999'])('refuses %j', (input) => {
    expect(normalizeInteger(input).ok).toBe(false)
  })
})

describe('normalizeWord', () => {
  it.each([
    ['OOM killer', 'oom killer'],
    ['oom-killer', 'oom killer'],
    ['OOM_Killer', 'oom killer'],
    ['  the   OOM  killer. ', 'oom killer'],
    ['The kernel', 'kernel'],
    ["the kernel's OOM killer", 'kernel oom killer'],
    ['Out-of-memory killer', 'out of memory killer'],
    ['OOM', 'oom'],
  ])('reads %j as %j', (input, expected) => {
    expect(value(normalizeWord(input))).toBe(expected)
  })
  it('refuses lists and blank text', () => {
    expect(normalizeWord(['oom']).ok).toBe(false)
    expect(normalizeWord('  ').ok).toBe(false)
    expect(normalizeWord('the').ok).toBe(true)
  })
})

describe('isBlank and showAnswer', () => {
  it.each([undefined, null, '', '  ', '""'])('%j is no answer yet', (input) => {
    expect(isBlank(input)).toBe(true)
  })
  it.each([0, '0', 'x'])('%j is an answer', (input) => {
    expect(isBlank(input)).toBe(false)
  })
  it('shows a signal by name and number, other answers as written', () => {
    expect(showAnswer('signal', 11)).toBe('SIGSEGV (11)')
    expect(showAnswer('exit-code', 137)).toBe('137')
    expect(showAnswer('word', 'oom')).toBe('"oom"')
  })
})

describe('normalizeMilliseconds', () => {
  it.each([[812, 812], ['812', 812], ['812.345 [ms]', 812.345], ['812 ms', 812], ['812ms', 812], ['"812.5"', 812.5], ['0.81 s', 810], ['0,81 s', 810], ['2 seconds', 2000], ['3 milliseconds', 3]] as const)('reads %j as %d ms', (input, expected) => {
    expect(value(normalizeMilliseconds(input))).toBeCloseTo(expected, 6)
  })
  it.each(['fast', '', '-5', '812 minutes', '1 2', null, [812], '812 [ms] (mean)'])('refuses %j', (input) => {
    expect(normalizeMilliseconds(input).ok).toBe(false)
  })
  it('is shown back in ms, to a tenth', () => {
    expect(showAnswer('milliseconds', 812.345)).toBe('812.3 ms')
  })
})
