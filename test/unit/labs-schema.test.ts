import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {ConfigError, UsageError} from '../../src/errors.js'
import {findCycle, listLessonIds, loadAllLessons, loadLesson, parseLesson} from '../../src/lessons/load.js'
import {loadLessonExperiment} from '../../src/experiments/files.js'
import {argumentWords} from '../../src/experiments/providers.js'

// expect's asymmetric matchers, typed `unknown` so that strict lint accepts them inside object literals.
const like = (pattern: RegExp): unknown => expect.stringMatching(pattern)
const containing = (object: Record<string, unknown>): unknown => expect.objectContaining(object)


const FILE = 'labs/lesson-x/lab.yaml'

function problemsOf(text: string, expectedLesson?: string): {line: number | undefined; where: string; message: string}[] {
  try {
    parseLesson(text, FILE, expectedLesson)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    const e = error as ConfigError
    expect(e.exitCode).toBe(2)
    expect(e.message).toContain(FILE)
    return (e.data?.problems ?? []) as {line: number | undefined; where: string; message: string}[]
  }
  throw new Error('expected the lab to be refused')
}

const HEAD = `lesson: lesson-x
title: A lesson
description: For tests.
answerSheet: answers/lesson-x.yaml
checks:
`

describe('parseLesson', () => {
  it('accepts every kind and fills in the defaults', () => {
    const lab = parseLesson(`${HEAD}  - id: a
    title: An answer
    hint: Look.
    kind: answer
    key: some_key
    question: What?
    expect: {kind: signal, truth: {command: echo 8}}
  - id: s
    title: A state
    hint: Look.
    kind: state
    command: nproc
    expect:
      number: {pattern: '^(\\d+)$', min: {param: cpus}}
  - id: b
    title: An experiment
    hint: Look.
    kind: behaviour
    run: ./experiment
    teardown: ./undo
    injected: {stdoutMatches: '^kills: [1-9]'}
    needs: [s]
    retry: {attempts: 2}
  - id: p
    title: A probe
    hint: Look.
    kind: probe
    probe: fizzbuzz
    url: http://127.0.0.1:8003/api/v1/fizzbuzz/
`, FILE)
    expect(lab.learner).toBe('chaos')
    expect(lab.checks.map((c) => [c.id, c.kind, c.timeoutSec, c.needs])).toEqual([
      ['a', 'answer', 30, []], ['s', 'state', 30, []], ['b', 'behaviour', 30, ['s']], ['p', 'probe', 30, []],
    ])
    const s = lab.checks[1]
    if (s?.kind !== 'state') throw new Error('state expected')
    expect(s.expect).toEqual({exitCode: 0, numbers: [{pattern: '^(\\d+)$', min: {param: 'cpus', factor: 1}}]})
    expect(lab.checks[2]?.retry).toEqual({attempts: 2, delaySec: 1})
  })

  it('names the line of a YAML syntax error', () => {
    expect(() => parseLesson(`${HEAD}  - id: a\n    title: [unclosed\n`, FILE)).toThrow(/lab\.yaml line \d+: this is not valid YAML/)
  })

  it('names the line and the key of an unknown key, with "did you mean"', () => {
    const problems = problemsOf(`${HEAD}  - id: s
    title: T
    hint: H
    kind: state
    comand: nproc
`)
    expect(problems).toContainEqual(containing({line: 10, message: like(/unknown key "comand" \(did you mean "command"\?\)/)}))
    expect(problems).toContainEqual(containing({line: 6, where: 'checks[0] (s).command', message: 'command is required'}))
  })

  it('names the line of a bad kind and of a bad expect.kind', () => {
    expect(problemsOf(`${HEAD}  - id: s\n    title: T\n    hint: H\n    kind: stat\n`)).toEqual([
      {line: 9, where: 'checks[0] (s).kind', message: 'kind must be one of answer, state, behaviour, probe, experiment, not "stat"'},
    ])
    const problems = problemsOf(`${HEAD}  - id: a
    title: T
    hint: H
    kind: answer
    key: k
    question: Q?
    expect:
      kind: number
      truth: {value: 1}
`)
    expect(problems).toEqual([{line: 13, where: 'checks[0] (a).expect.kind', message: 'expect.kind must be one of exit-code, signal, integer, word, milliseconds'}])
  })

  it('refuses regular expressions that do not compile, and number patterns without one group', () => {
    const problems = problemsOf(`${HEAD}  - id: s
    title: T
    hint: H
    kind: state
    command: nproc
    expect:
      stdoutMatches: '(unclosed'
      number: {pattern: '^\\d+$', max: 0}
`)
    expect(problems.map((p) => [p.line, p.message.replace(/ \(.*\)$/, '')])).toEqual([
      [12, 'expect.stdoutMatches is not a valid regular expression'],
      [13, 'number.pattern must have exactly 1 capture group (…), it has 0'],
    ])
  })

  it('checks needs: unknown ids (did you mean), itself, and cycles', () => {
    const check = (id: string, needs: string[]) => `  - id: ${id}\n    title: T\n    hint: H\n    kind: state\n    command: 'true'\n    needs: [${needs.join(', ')}]\n`
    expect(problemsOf(HEAD + check('units', ['unitz']))).toEqual([
      {line: 11, where: 'checks[0] (units).needs[0]', message: 'needs "unitz", but no check has that id (did you mean "units"?)'},
    ])
    expect(problemsOf(HEAD + check('a', ['a']))[0]?.message).toBe('check "a" cannot need itself')
    expect(problemsOf(HEAD + check('a', ['b']) + check('b', ['c']) + check('c', ['a']))).toEqual([
      {line: 11, where: 'checks[0] (a).needs', message: 'needs go round in a circle: a → b → c → a'},
    ])
  })

  it('refuses duplicate ids, a lesson that does not match its folder, and answers without a sheet', () => {
    const twice = `${HEAD}  - {id: a, title: T, hint: H, kind: state, command: x}\n  - {id: a, title: T, hint: H, kind: state, command: y}\n`
    expect(problemsOf(twice, 'lesson-y')).toEqual([
      {line: 1, where: 'lesson', message: 'lesson is "lesson-x" but the folder is lesson-y: they must be the same'},
      {line: 7, where: 'checks[1] (a).id', message: 'id "a" is used by two checks'},
    ])
    const noSheet = `lesson: l\ntitle: T\ndescription: D\nchecks:\n  - {id: a, title: T, hint: H, kind: answer, key: k, question: Q, expect: {kind: integer, truth: {value: 1}}}\n`
    expect(problemsOf(noSheet)[0]?.message).toMatch(/needs the lab's answerSheet/)
  })

  it('refuses a truth value that is not of the answer kind', () => {
    const problems = problemsOf(`${HEAD}  - id: a
    title: T
    hint: H
    kind: answer
    key: k
    question: Q?
    expect:
      kind: signal
      truth: {value: [SIGFPE, SIGBOGUS]}
`)
    expect(problems).toEqual([{line: 14, where: 'checks[0] (a).expect.truth.value[1]', message: like(/"SIGBOGUS" is not a signal.*cannot be the truth of a signal answer/)}])
  })

  it('refuses a file that is not a map, and empty check lists', () => {
    expect(problemsOf('- a\n- b\n')[0]?.message).toMatch(/found a list/)
    expect(problemsOf('lesson: l\ntitle: T\ndescription: D\nchecks: []\n')).toEqual([{line: 4, where: 'checks', message: 'checks must list at least one check'}])
  })

  it('finds cycles only where there are some', () => {
    expect(findCycle([{id: 'a', needs: ['b']}, {id: 'b', needs: []}])).toBeUndefined()
    expect(findCycle([{id: 'a', needs: ['b']}, {id: 'b', needs: ['a']}])).toEqual(['a', 'b', 'a'])
  })
})

describe('the shipped lessons', () => {
  it('are valid and in lesson order', () => {
    expect(listLessonIds()).toEqual(['lesson-1', 'lesson-2', 'lesson-3', 'lesson-4'])
    const labs = loadAllLessons()
    expect(labs.map((lab) => lab.lesson)).toEqual(['lesson-1', 'lesson-2', 'lesson-3', 'lesson-4'])
  })

  it('lesson-2 runs killer-while only after the start-limit fix, both units and the real FizzBuzz are checked', () => {
    const experiment = loadLesson('lesson-2').checks.find((check) => check.id === 'killer-while-under-load')
    expect(experiment?.needs).toEqual(['start-limit-fix-a', 'start-limit-fix-b', 'faas001-a-active', 'faas001-b-active', 'fizzbuzz-through-nginx'])
    // One engine: the check runs labs/lesson-2/experiments/killer-while.yaml, whose rollbacks put both units back.
    expect(experiment?.kind === 'experiment' && experiment.experiment).toBe('killer-while')
    const rollbacks = loadLessonExperiment('lesson-2', 'killer-while').rollbacks.map((r) => [r.provider.type === 'process' ? r.provider.path : '', ...(r.provider.type === 'process' ? argumentWords(r.provider.arguments) : [])].join(' '))
    expect(rollbacks.join('; ')).toMatch(/reset-failed faas001_a faas001_b; sudo -n systemctl start faas001_a faas001_b/)
  })

  it('nothing a learner reads in lesson-2 gives an answer away', () => {
    const lab = loadLesson('lesson-2')
    const answers = /\b(136|143|137|SIGFPE|FPE|OOM[ -]?killer|out of memory killer)\b/i
    expect(lab.description).not.toMatch(answers)
    for (const difference of lab.differences) expect(Object.values(difference).join(' ')).not.toMatch(answers)
    for (const check of lab.checks) {
      for (const text of [check.title, check.hint, check.failMessage ?? '', check.kind === 'answer' ? check.question : '']) {
        expect(text, check.id).not.toMatch(answers)
      }
    }
  })

  it('an unknown lesson is a usage error with "did you mean"', () => {
    expect(() => loadLesson('lesson2')).toThrow(UsageError)
    expect(() => loadLesson('lesson2')).toThrow('There is no lesson "lesson2". Did you mean "lesson-2"?')
    expect(() => loadLesson('2')).toThrow('Did you mean "lesson-2"?')
  })

  describe('from another labs folder', () => {
    const root = mkdtempSync(join(tmpdir(), 'chaos-lab-labs-'))
    afterAll(() => { rmSync(root, {recursive: true, force: true}) })
    it('orders lesson-10 after lesson-2 and ignores folders without a lab.yaml', () => {
      for (const id of ['lesson-10', 'lesson-2', 'notes']) {
        mkdirSync(join(root, id))
        if (id !== 'notes') writeFileSync(join(root, id, 'lab.yaml'), `lesson: ${id}\ntitle: T\ndescription: D\nchecks:\n  - {id: a, title: T, hint: H, kind: state, command: x}\n`)
      }
      expect(listLessonIds(root)).toEqual(['lesson-2', 'lesson-10'])
      expect(loadLesson('lesson-10', root).checks).toHaveLength(1)
    })
  })
})

describe('type errors', () => {
  it('say what the value must be, and "required" only when it is missing', () => {
    const problems = problemsOf(`${HEAD}  - id: s\n    title: T\n    hint: H\n    kind: state\n    command: true\n    timeoutSec: soon\n`)
    expect(problems.map((p) => [p.line, p.message])).toEqual([[10, 'command must be text'], [11, 'timeoutSec must be a number of seconds']])
  })
})
