import {describe, expect, it} from 'vitest'

import {interpretSheetRead, parseAnswerSheet, readSheetCommand} from '../../src/lessons/answers.js'
import {parseLesson} from '../../src/lessons/load.js'
import {runLesson} from '../../src/lessons/runner.js'
import {FakeSession} from '../helpers/fake-session.js'

// expect's asymmetric matchers, typed `unknown` so that strict lint accepts them inside object literals.
const like = (pattern: RegExp): unknown => expect.stringMatching(pattern)
const anyNumber: unknown = expect.any(Number)


const SHEET = '~/answers/lesson-t.yaml'

describe('the answer sheet', () => {
  it('is read as root from the learner\'s home, whoever logs in', () => {
    expect(readSheetCommand('chaos', 'answers/lesson-2.yaml')).toBe('sudo -n cat -- ~chaos/answers/lesson-2.yaml')
  })

  it('parses answers, and an empty sheet as no answers', () => {
    expect(parseAnswerSheet('# Q?\na: 136\nb: SIGFPE\nc:\n', SHEET)).toEqual({state: 'ok', values: {a: 136, b: 'SIGFPE', c: null}})
    expect(parseAnswerSheet('# only comments\n', SHEET)).toEqual({state: 'ok', values: {}})
  })

  it('says where a sheet is not valid YAML', () => {
    expect(parseAnswerSheet('a: 1\nb: [2\nc: 3\n', SHEET)).toMatchObject({state: 'invalid', line: anyNumber})
    expect(parseAnswerSheet('a: 1\na: 2\n', SHEET)).toMatchObject({state: 'invalid', line: 2, problem: like(/unique/i)})
    expect(parseAnswerSheet('- 136\n- 8\n', SHEET)).toEqual({state: 'invalid', line: 1, problem: 'expected one "key: value" line per answer, found a list'})
  })

  it('tells a missing sheet from one that cannot be read', () => {
    expect(interpretSheetRead({code: 1, signal: null, stdout: '', stderr: 'cat: /home/chaos/answers/x.yaml: No such file or directory\n'}, SHEET)).toEqual({state: 'missing'})
    expect(() => interpretSheetRead({code: 1, signal: null, stdout: '', stderr: 'sudo: a password is required\n'}, SHEET)).toThrow(/Could not read the answer sheet .* sudo: a password is required/)
  })
})

const LAB = parseLesson(`lesson: lesson-t
title: T
description: D
answerSheet: answers/lesson-t.yaml
checks:
  - id: code
    title: The exit code
    hint: Run it and look at $?.
    kind: answer
    key: exit_code
    question: Which exit code?
    expect: {kind: exit-code, truth: {command: run-mystery}}
  - id: signal
    title: The signal
    hint: Subtract 128.
    kind: answer
    key: signal
    question: Which signal?
    expect: {kind: signal, truth: {command: run-mystery-signal}}
  - id: killer
    title: Who killed it
    hint: Read dmesg.
    kind: answer
    key: killed_by
    question: Who?
    expect: {kind: word, truth: {value: [oom killer, kernel]}}
  - id: sysctl
    title: A sysctl
    hint: cat it.
    kind: answer
    key: dump_tasks
    question: Its value?
    expect: {kind: integer, truth: {command: cat /proc/sys/vm/oom_dump_tasks}}
`, 'lab.yaml')

function vm(sheet: string | undefined, truths: {code?: string; signal?: string; sysctl?: string} = {}) {
  return new FakeSession([
    [/^sudo -n cat -- ~chaos\/answers\/lesson-t\.yaml$/, sheet === undefined
      ? {code: 1, stderr: 'cat: /home/chaos/answers/lesson-t.yaml: No such file or directory\n'}
      : {stdout: sheet}],
    [/^run-mystery$/, {stdout: truths.code ?? '136\n'}],
    [/^run-mystery-signal$/, {stdout: truths.signal ?? '8\n'}],
    [/oom_dump_tasks/, {stdout: truths.sysctl ?? '1\n'}],
  ])
}

const options = {target: 'vm', sleep: () => Promise.resolve()}

describe('answer checks', () => {
  it('pass the forms a person writes, and read the sheet once for all of them', async () => {
    const session = vm('# Which exit code?\nexit_code: " 136 "\nsignal: fpe\nkilled_by: The OOM-Killer.\ndump_tasks: 1\n')
    const {run} = await runLesson(LAB, session, options)
    expect(run.checks.map((c) => [c.status, c.message])).toEqual([
      ['pass', 'exit_code: 136 is right'],
      ['pass', 'signal: SIGFPE (8) is right'],
      ['pass', 'killed_by: "oom killer" is right'],
      ['pass', 'dump_tasks: 1 is right'],
    ])
    expect(session.commands.filter((c) => c.includes('answers/'))).toHaveLength(1)
  })

  it('fail a wrong answer without telling the right one', async () => {
    const {run} = await runLesson(LAB, vm('exit_code: 137\nsignal: SIGSEGV\nkilled_by: me\ndump_tasks: 0\n'), options)
    expect(run.checks.map((c) => [c.status, c.message, c.hint])).toEqual([
      ['fail', 'exit_code: 137 is not right', 'Run it and look at $?.'],
      ['fail', 'signal: SIGSEGV (11) is not right', 'Subtract 128.'],
      ['fail', 'killed_by: "me" is not right', 'Read dmesg.'],
      ['fail', 'dump_tasks: 0 is not right', 'cat it.'],
    ])
    for (const check of run.checks) expect(`${check.message} ${check.hint}`).not.toMatch(/136|SIGFPE|oom killer|\b8\b/)
  })

  it('compare with the truth computed in the VM, not a fixed value', async () => {
    const {run} = await runLesson(LAB, vm('exit_code: 136\nsignal: SIGFPE\nkilled_by: kernel\ndump_tasks: 1\n', {code: '139\n', signal: '11\n', sysctl: '0\n'}), options)
    expect(run.checks.map((c) => c.status)).toEqual(['fail', 'fail', 'pass', 'fail'])
  })

  it('ask for a blank or missing answer, naming the key and the sheet, plus the hint', async () => {
    const {run} = await runLesson(LAB, vm('exit_code:\nsignal: ""\nkilled_by: ~\n'), options)
    expect(run.checks.map((c) => [c.status, c.message, c.hint])).toEqual([
      ['fail', 'not answered yet', 'Answer exit_code in ~/answers/lesson-t.yaml. Run it and look at $?.'],
      ['fail', 'not answered yet', 'Answer signal in ~/answers/lesson-t.yaml. Subtract 128.'],
      ['fail', 'not answered yet', 'Answer killed_by in ~/answers/lesson-t.yaml. Read dmesg.'],
      ['fail', 'dump_tasks is not in ~/answers/lesson-t.yaml', 'Answer dump_tasks in ~/answers/lesson-t.yaml (add a line "dump_tasks: …"). cat it.'],
    ])
  })

  it('explain an answer that is not of the right kind', async () => {
    const {run} = await runLesson(LAB, vm('exit_code: lots\nsignal: SIGWHAT\nkilled_by: [a, b]\ndump_tasks: one\n'), options)
    expect(run.checks.map((c) => c.message)).toEqual([
      'exit_code: "lots" is not an exit code (a whole number from 0 to 255)',
      'signal: "SIGWHAT" is not a signal: write its name (like SIGHUP or HUP) or its number (like 1)',
      'killed_by: a list is not a word',
      'dump_tasks: "one" is not a whole number',
    ])
    expect(run.checks[1]?.hint).toBe('Write signal as a signal name (like SIGHUP or HUP) or its number. Subtract 128.')
  })

  it('all fail (not error) with the line when the sheet is not valid YAML', async () => {
    const {run} = await runLesson(LAB, vm('exit_code: 136\nsignal: "SIGFPE\nkilled_by: oom\n'), options)
    expect(run.summary).toMatchObject({fail: 4, error: 0})
    for (const check of run.checks) {
      expect(check.message).toMatch(/^~\/answers\/lesson-t\.yaml is not valid YAML, so no answer in it can be read \(line \d+ of ~\/answers\/lesson-t\.yaml: /)
      expect(check.hint).toMatch(/^Fix line \d+ of ~\/answers\/lesson-t\.yaml: every answer is one "key: value" line/)
    }
  })

  it('fail with a way to get the sheet back when it is missing', async () => {
    const {run} = await runLesson(LAB, vm(undefined), options)
    expect(run.checks[0]).toMatchObject({status: 'fail', message: 'the answer sheet ~/answers/lesson-t.yaml is missing', hint: like(/chaos-lab provision/)})
  })

  it('are errors, not failures, when the truth cannot be worked out in the VM', async () => {
    const session = new FakeSession([
      [/answers/, {stdout: 'exit_code: 136\nsignal: 8\nkilled_by: oom killer\ndump_tasks: 1\n'}],
      [/^run-mystery$/, {code: 127, stderr: 'bash: ./mystery000: No such file or directory\n'}],
      [/^run-mystery-signal$/, {stdout: '-128\n'}],
      [/oom_dump_tasks/, {stdout: '1\n'}],
    ])
    const {run} = await runLesson(LAB, session, options)
    expect(run.checks.map((c) => c.status)).toEqual(['error', 'error', 'pass', 'pass'])
    expect(run.checks[0]?.message).toBe('Could not work out the right answer in the VM: the command ended with exit code 127 (bash: ./mystery000: No such file or directory).')
    expect(run.checks[0]?.hint).toMatch(/chaos-lab check lesson-1/)
    expect(run.checks[1]?.message).toMatch(/printed "-128"/)
  })

  it('are errors when the sheet cannot be read at all', async () => {
    const session = new FakeSession([[/answers/, {code: 1, stderr: 'sudo: a password is required\n'}]])
    const {run} = await runLesson(LAB, session, options)
    expect(run.checks.map((c) => c.status)).toEqual(['error', 'error', 'error', 'error'])
    expect(run.checks[0]?.hint).toMatch(/passwordless sudo/)
  })
})

describe('milliseconds answers (a time read off a tool, against the times measured in the VM)', () => {
  const TIMED = parseLesson(`lesson: lesson-t
title: T
description: D
answerSheet: answers/lesson-t.yaml
checks:
  - id: time
    title: The time per request
    hint: Read ab's output.
    kind: answer
    key: time_ms
    question: How long?
    expect: {kind: milliseconds, truth: {command: measured-runs}, within: {percent: 30, atLeast: 15}}
`, 'lab.yaml')
  const timed = (answer: string, runs: string) => new FakeSession([
    [/answers/, {stdout: `time_ms: ${answer}\n`}],
    [/^measured-runs$/, {stdout: runs}],
  ])
  const status = async (answer: string, runs = '2723.9\n1828.4\n') => (await runLesson(TIMED, timed(answer, runs), options)).run.checks[0]

  it('pass an answer near any one of the measured runs, in the forms ab prints and a person writes', async () => {
    for (const answer of ['2723.882 [ms]', '2723', '2.7 s', '"2,7 s"', '3400', '1828.296', '1300 ms']) {
      expect((await status(answer))?.status, answer).toBe('pass')
    }
    expect((await status('2723.882'))?.message).toBe('time_ms: 2723.9 ms is what the VM measured (within 30 %)')
  })

  it('fail an answer far from every run, without telling the measured times', async () => {
    const result = await status('9000')
    expect(result).toMatchObject({status: 'fail', message: 'time_ms: 9000 ms is not within 30 % of what the VM measured', hint: 'Read ab\'s output.'})
    expect(result?.message).not.toMatch(/2723|1828/)
    // The margin is at least 15 ms: a fast run's 4 ms against 12 ms passes, 40 ms does not.
    expect((await status('12', '4.0\n'))?.status).toBe('pass')
    expect((await status('40', '4.0\n'))?.status).toBe('fail')
  })

  it('explain an answer that is not a time; a truth command that measured nothing is an error', async () => {
    expect(await status('fast')).toMatchObject({status: 'fail', message: 'time_ms: "fast" is not a time (a number of milliseconds, such as 812 or 812.3 ms)'})
    expect((await status('800', ''))?.status).toBe('error')
  })

  it('need expect.within, which no other kind may have (load-time problems with their lines)', () => {
    const lab = (expectLine: string) => `lesson: lesson-t\ntitle: T\ndescription: D\nanswerSheet: answers/lesson-t.yaml\nchecks:\n  - id: a\n    title: A\n    hint: H\n    kind: answer\n    key: a\n    question: Q?\n    expect: ${expectLine}\n`
    expect(() => parseLesson(lab('{kind: milliseconds, truth: {command: x}}'), 'lab.yaml')).toThrow(/a milliseconds answer needs expect\.within/)
    expect(() => parseLesson(lab('{kind: integer, truth: {command: x}, within: {percent: 10}}'), 'lab.yaml')).toThrow(/expect\.within is for milliseconds answers only, not integer/)
  })
})
