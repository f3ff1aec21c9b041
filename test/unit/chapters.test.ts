import {cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {chapterOfStep, chaptersAskedFor, parseChapterList} from '../../src/config/chapters.js'
import {LabFolder} from '../../src/config/lab-folder.js'
import {parseLabConfig} from '../../src/config/parse.js'
import {CHAPTERS} from '../../src/config/schema.js'
import {ChaosLabError, ExitCode, UsageError} from '../../src/errors.js'
import {listLessonIds, loadLesson} from '../../src/lessons/load.js'
import type {Lesson} from '../../src/lessons/schema.js'
import {loadBundle} from '../../src/provision/bundle.js'
import {provisionSession} from '../../src/provision/tasks.js'
import {ProvisionLog, Provisioner, parseState, provisionedChapters} from '../../src/provision/provisioner.js'
import {requireChapter} from '../../src/services/check.js'
import {listLessons} from '../../src/services/labs.js'
import {packagePath} from '../../src/util/paths.js'
import {FakeSession} from '../helpers/fake-session.js'

/** Per-chapter provisioning: chaos-lab.yaml's `chapters`, --chapters, one stamped step per chapter, the lessons' gate. */

const fixture = join(import.meta.dirname, '..', 'fixtures', 'provisioning')

/** The fixture bundle plus a chapter3 step with its own files. */
function bundleWithChapter3(): string {
  const root = mkdtempSync(join(tmpdir(), 'chaos-lab-chapters-'))
  cpSync(fixture, root, {recursive: true})
  writeFileSync(join(root, 'steps', 'ORDER'), 'base\nchapter2\nchapter3\n')
  writeFileSync(join(root, 'steps', 'chapter3.sh'), '#!/usr/bin/env bash\necho chapter3\n')
  mkdirSync(join(root, 'files', 'chapter3'))
  writeFileSync(join(root, 'files', 'chapter3', 'mystery002'), '#!/bin/bash\necho pi\n')
  return root
}

function fakeVm() {
  let state = ''
  const session = new FakeSession([
    [/^sudo -n cat \/var\/lib\/chaos-lab\/state\.json/, () => ({stdout: state})],
    [/^cat \/var\/lib\/chaos-lab\/state\.json/, () => ({stdout: state})],
    [/state\.json\.tmp/, (_command, options) => { state = String(options.stdin); return {} }],
    [/steps\/(\w+)\.sh$/, (command) => ({stdout: `${/steps\/(\w+)\.sh$/.exec(command)?.[1] ?? ''} ok`})],
  ])
  return {session, state: () => parseState(state)}
}

async function provisionWith(session: FakeSession, root: string, chapters: readonly number[] | undefined) {
  const provisioner = new Provisioner(session, loadBundle('headless', root), {profile: 'headless', force: false, log: new ProvisionLog(undefined), chapters})
  const pending = await provisioner.prepare()
  await provisioner.upload()
  for (const step of pending) await provisioner.runStep(step, () => undefined)
  return {ran: pending.map((step) => step.name), chapters: provisioner.chapters()}
}

function usageError(fn: () => unknown): ChaosLabError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(ChaosLabError)
    expect((error as ChaosLabError).exitCode).toBe(ExitCode.usage)
    return error as ChaosLabError
  }
  throw new Error('expected an exit-2 error')
}

describe('chaos-lab.yaml chapters:', () => {
  it('defaults to every chapter chaos-lab provides, sorted; a reader can trim it', () => {
    expect(CHAPTERS).toEqual([2, 3, 4])
    expect(parseLabConfig('', 'chaos-lab.yaml').chapters).toEqual([...CHAPTERS])
    expect(parseLabConfig('chapters: [3, 2]', 'chaos-lab.yaml').chapters).toEqual([2, 3])
    expect(parseLabConfig('chapters: [2]', 'chaos-lab.yaml').chapters).toEqual([2])
  })

  it.each([
    ['chapters: [2, 9]', new RegExp(`line 1: chapters: 9 is not a chapter chaos-lab provides; known chapters: ${CHAPTERS.join(', ')}`)],
    ['chapters: ["three"]', /chapters must list chapter numbers \(known: [\d, ]+\), not "three"/],
    ['chapters: 3', /chapters must be a list of chapter numbers such as \[/],
    ['chapters: []', /chapters must name at least one chapter \(known: /],
    ['chapters: [2, 2]', /chapters lists a chapter twice/],
  ])('%j is refused with exit 2, naming the known chapters', (text, message) => {
    expect(usageError(() => parseLabConfig(text, 'chaos-lab.yaml')).message).toMatch(message)
  })

  it('init writes the key with its default', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-lab-chapters-init-'))
    writeFileSync(join(dir, 'chaos-lab.yaml'), 'chapters: [2]\n')
    expect(LabFolder.load(dir).config.chapters).toEqual([2])
  })
})

describe('--chapters', () => {
  it('takes 3,4-style lists (spaces, "ch3" too), sorted and without repeats', () => {
    expect(parseChapterList('2')).toEqual([2])
    expect(parseChapterList(' 2 , ch2,chapter2')).toEqual([2])
    expect(parseChapterList('3,2')).toEqual([2, 3])
    expect(parseChapterList('ch3')).toEqual([3])
  })

  it('an unknown chapter is exit 2 listing the known ones', () => {
    const error = usageError(() => parseChapterList('2,14'))
    expect(error).toBeInstanceOf(UsageError)
    expect(error.code).toBe('unknown_chapter')
    expect(error.message).toBe('--chapters: "14" is not a chapter chaos-lab provides.')
    expect(error.suggestion).toMatch(new RegExp(`Known chapters: ${CHAPTERS.join(', ')}`))
    expect(usageError(() => parseChapterList(',')).code).toBe('bad_chapters')
  })

  it('adds to the lab folder\'s chapters; without a lab folder it is the list (default: every chapter)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-lab-chapters-lab-'))
    writeFileSync(join(dir, 'chaos-lab.yaml'), 'chapters: [2]\n')
    const lab = LabFolder.load(dir)
    expect(chaptersAskedFor(undefined, lab)).toEqual([2])
    expect(chaptersAskedFor([3], lab)).toEqual([2, 3])
    expect(chaptersAskedFor([3], undefined)).toEqual([3])
    expect(chaptersAskedFor([2, 3], lab)).toEqual([2, 3])
    expect(chaptersAskedFor(undefined, undefined)).toBeUndefined()
  })
})

describe('one provisioning step per chapter', () => {
  it('the chapters chaos-lab provides are exactly the chapterN steps of steps/ORDER, each with its own script', () => {
    const order = readFileSync(packagePath('provisioning', 'steps', 'ORDER'), 'utf8').split('\n').map((line) => line.replace(/#.*/, '').trim()).filter(Boolean)
    expect(order.map(chapterOfStep).filter((chapter) => chapter !== undefined)).toEqual([...CHAPTERS])
    const scripts = readdirSync(packagePath('provisioning', 'steps')).filter((name) => /^chapter\d+\.sh$/.test(name)).sort()
    expect(scripts).toEqual(CHAPTERS.map((chapter) => `chapter${chapter}.sh`).sort())
    expect(loadBundle('headless').steps.filter((step) => step.chapter !== undefined).map((step) => step.name)).toEqual(CHAPTERS.map((chapter) => `chapter${chapter}`))
  })

  it('a lab without chapter 3 never runs its step; adding it runs only chapter3; chapter 2 is not redone', async () => {
    const root = bundleWithChapter3()
    const vm = fakeVm()
    expect(await provisionWith(vm.session, root, [2])).toEqual({ran: ['base', 'chapter2'], chapters: [2]})
    expect(await provisionWith(vm.session, root, [2])).toEqual({ran: [], chapters: [2]})
    // provision --chapters 3 on the running lab.
    expect(await provisionWith(vm.session, root, [3])).toEqual({ran: ['chapter3'], chapters: [2, 3]})
    expect(Object.keys(vm.state().steps)).toEqual(['base', 'chapter2', 'chapter3'])
    // A chapter the machine has stays up to date even when the lab folder's list no longer names it.
    writeFileSync(join(root, 'files', 'chapter3', 'mystery002'), '#!/bin/bash\necho pi, faster\n')
    expect(await provisionWith(vm.session, root, [2])).toEqual({ran: ['chapter3'], chapters: [2, 3]})
  })

  it('the report lists the lab\'s steps only: a chapter it does not have is not "skipped" in it', async () => {
    const vm = fakeVm()
    const options = {profile: 'headless' as const, force: false, chapters: [2], logFile: undefined, aptProxy: ''}
    const first = await provisionSession(vm.session, options, () => undefined)
    expect(first.steps.map((step) => `${step.name}:${step.status}`)).toEqual(['base:done', 'desktop:done', 'chapter2:done'])
    expect(first.chapters).toEqual([2])
    const again = await provisionSession(vm.session, options, () => undefined)
    expect(again.steps.map((step) => `${step.name}:${step.status}`)).toEqual(['base:skipped', 'desktop:skipped', 'chapter2:skipped'])
    const added = await provisionSession(vm.session, {...options, chapters: [3]}, () => undefined)
    expect(added.steps.map((step) => `${step.name}:${step.status}`)).toEqual(['base:skipped', 'desktop:skipped', 'chapter2:skipped', 'chapter3:done'])
  })

  it('nothing asked (--target without --chapters): every chapter on a new machine, the machine\'s own chapters after that', async () => {
    const root = bundleWithChapter3()
    const fresh = fakeVm()
    expect(await provisionWith(fresh.session, root, undefined)).toEqual({ran: ['base', 'chapter2', 'chapter3'], chapters: [2, 3]})
    const two = fakeVm()
    await provisionWith(two.session, root, [2])
    writeFileSync(join(root, 'files', 'chapter3', 'mystery002'), 'changed\n')
    expect(await provisionWith(two.session, root, undefined)).toEqual({ran: [], chapters: [2]})
  })

  it('a chapter asked for stays the lab\'s when the run that added it was cut off before its step finished', async () => {
    const root = bundleWithChapter3()
    const vm = fakeVm()
    const provisioner = new Provisioner(vm.session, loadBundle('headless', root), {profile: 'headless', force: false, log: new ProvisionLog(undefined), chapters: [2]})
    const pending = await provisioner.prepare()
    await provisioner.upload()
    await provisioner.runStep(pending[0]!, () => undefined) // base only: the connection drops before chapter2
    expect(vm.state().chapters).toEqual([2])
    expect(await provisionWith(vm.session, root, undefined)).toEqual({ran: ['chapter2'], chapters: [2]})
  })

  it('each chapter step has its own inputs hash: changing chapter 3\'s files leaves chapter 2\'s hash alone', () => {
    const root = bundleWithChapter3()
    const before = loadBundle('headless', root).steps
    writeFileSync(join(root, 'files', 'chapter3', 'mystery002'), 'changed\n')
    const after = loadBundle('headless', root).steps
    const hash = (steps: typeof before, name: string) => steps.find((step) => step.name === name)?.hash
    expect(hash(after, 'chapter2')).toBe(hash(before, 'chapter2'))
    expect(hash(after, 'base')).toBe(hash(before, 'base'))
    expect(hash(after, 'chapter3')).not.toBe(hash(before, 'chapter3'))
    expect(after.find((step) => step.name === 'chapter3')?.chapter).toBe(3)
    expect(after.find((step) => step.name === 'base')?.chapter).toBeUndefined()
  })
})

describe('lessons and chapters', () => {
  it('every shipped lesson names its chapter', () => {
    for (const id of listLessonIds()) expect(loadLesson(id).chapter, id).toBeDefined()
  })

  it('labs lists each lesson with its chapter and, given the machine\'s chapters, whether it is there', () => {
    expect(listLessons().find((lesson) => lesson.id === 'lesson-2')).toMatchObject({chapter: 2, provisioned: null})
    expect(listLessons([2]).find((lesson) => lesson.id === 'lesson-2')).toMatchObject({chapter: 2, provisioned: true})
    expect(listLessons([3]).find((lesson) => lesson.id === 'lesson-2')).toMatchObject({chapter: 2, provisioned: false})
    expect(listLessons([2]).find((lesson) => lesson.id === 'lesson-3')).toMatchObject({chapter: 3, provisioned: false})
    expect(listLessons([2, 3]).find((lesson) => lesson.id === 'lesson-3')).toMatchObject({chapter: 3, provisioned: true})
    expect(listLessons([2, 3]).find((lesson) => lesson.id === 'lesson-4')).toMatchObject({chapter: 4, provisioned: false})
    expect(listLessons([2, 4]).find((lesson) => lesson.id === 'lesson-4')).toMatchObject({chapter: 4, provisioned: true})
  })

  it('reads the machine\'s chapters from its stamps; no stamps at all is "unknown"', async () => {
    const vm = fakeVm()
    expect(await provisionedChapters(vm.session)).toBeUndefined()
    await provisionWith(vm.session, bundleWithChapter3(), [2])
    expect(await provisionedChapters(vm.session)).toEqual([2])
  })

  it('check lesson-3 on a lab without chapter 3 is exit 2 saying how to add it; with it, or unknown, it goes on', async () => {
    const lesson3: Lesson = loadLesson('lesson-3')
    const vm = fakeVm()
    await expect(requireChapter(lesson3, vm.session, 'chaos-lab')).resolves.toBeUndefined()
    await provisionWith(vm.session, bundleWithChapter3(), [2])
    const error = await requireChapter(lesson3, vm.session, 'chaos-lab').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UsageError)
    expect((error as UsageError).exitCode).toBe(2)
    expect((error as UsageError).code).toBe('chapter_not_provisioned')
    expect((error as UsageError).message).toBe('lesson-3 belongs to chapter 3, and chaos-lab was provisioned without it (its chapters: 2).')
    expect((error as UsageError).suggestion).toMatch(/chaos-lab provision --chapters 3/)
    await expect(requireChapter(loadLesson('lesson-2'), vm.session, 'chaos-lab')).resolves.toBeUndefined()
    await provisionWith(vm.session, bundleWithChapter3(), [3])
    await expect(requireChapter(lesson3, vm.session, 'chaos-lab')).resolves.toBeUndefined()
  })
})
