// The rules every lesson's lab.yaml keeps (src/lessons/README.md, "Rules for every lesson"), checked over every
// lesson in labs/: a check that passes without the exercise being done is worse than no check.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {evaluateOutput} from '../../src/lessons/kinds/expect.js'
import {labsRoot, loadAllLessons} from '../../src/lessons/load.js'
import {loadLessonExperiment} from '../../src/experiments/files.js'

const params = {values: {memoryMb: 4096, cpus: 2}, source: 'the book\'s defaults'}
const printed = (stdout: string, code = 0) => ({stdout, stderr: '', code, signal: null})
/** What a broken or emptied command prints: nothing, a blank line, or an error on stderr. */
const EMPTY = [printed(''), printed('\n'), {stdout: '', stderr: 'bash: line 1: systemctl: command not found\n', code: 0, signal: null}]

/** A truth that reads the learner's home, or runs something relative to a folder the learner owns. */
const LEARNER_PATH = /~|\/home\/|\$HOME|\$\{HOME\}|(^|[\s;&|(])\.\//

describe.each(loadAllLessons().map((lab) => [lab.lesson, lab] as const))('%s keeps the lab rules', (_lesson, lab) => {
  it('every state check states what it must see: a command that prints nothing fails', () => {
    for (const check of lab.checks) {
      if (check.kind !== 'state') continue
      for (const result of EMPTY) expect(evaluateOutput(check.expect, result, params).status, `${check.id} on ${JSON.stringify(result.stdout)}`).toBe('fail')
    }
  })

  it('every behaviour check asserts that its fault was injected: empty output is no evidence', () => {
    for (const check of lab.checks) {
      if (check.kind !== 'behaviour') continue
      for (const result of EMPTY) expect(evaluateOutput(check.injected, result, params).status, check.id).toBe('fail')
    }
  })

  it('every experiment check asserts that its fault was injected (marks), and its experiment rolls back', () => {
    for (const check of lab.checks) {
      if (check.kind !== 'experiment') continue
      expect(check.injected.marks, check.id).toBeGreaterThan(0)
      const experiment = loadLessonExperiment(lab.lesson, check.experiment)
      expect(experiment.rollbacks.length, `${check.id}: rollbacks`).toBeGreaterThan(0)
      expect(experiment.extensions[0]?.marks, `${check.id}: what counts as a mark`).toBeTruthy()
      // The fault injector is root-owned, never something under the learner's home.
      for (const action of experiment.method) {
        if (action.type === 'action' && action.provider.type === 'process') expect(action.provider.path, check.id).toMatch(/^\/opt\/chaos-lab\//)
      }
    }
  })

  it('every truth is computed from something the learner cannot edit (nothing under their home)', () => {
    for (const check of lab.checks) {
      if (check.kind !== 'answer' || !('command' in check.expect.truth)) continue
      expect(check.expect.truth.command, check.id).not.toMatch(LEARNER_PATH)
    }
  })
})

describe('the rules themselves', () => {
  it('catch what they are for', () => {
    // lesson-1's old `tools` expectation: only what it must not see; an empty output passed.
    const old = {exitCode: 0, stdoutNotMatches: ['^missing: (?!none$)'], numbers: []}
    expect(evaluateOutput(old, printed(''), params).status).toBe('pass')
    expect(evaluateOutput({...old, stdoutMatches: ['^missing: none$']}, printed(''), params).status).toBe('fail')
    // lesson-2's old mystery000 truth ran the learner's own binary.
    expect("sudo -n -u chaos bash -c 'cd ~chaos/src/examples/killer-whiles && ./mystery000; echo $?'").toMatch(LEARNER_PATH)
    expect("sudo -n bash -c '/opt/chaos-lab/chapter2/mystery000; echo $?'").not.toMatch(LEARNER_PATH)
  })

  it('are written down where lesson authors read', () => {
    const readme = readFileSync(join(labsRoot(), '..', 'src', 'lessons', 'README.md'), 'utf8')
    expect(readme).toMatch(/## Rules for every lesson/)
    expect(readme).toMatch(/test\/unit\/lab-rules\.test\.ts/)
  })
})
