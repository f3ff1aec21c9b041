import {LabFolder} from '../config/lab-folder.js'
import type {Deps} from '../deps.js'
import {errorMessage} from '../errors.js'
import {sheetShownAs} from '../lessons/answers.js'
import {loadAllLessons, loadLesson} from '../lessons/load.js'
import type {Check} from '../lessons/schema.js'
import {provisionedChapters} from '../provision/provisioner.js'
import {resolveMachine, withSession, type TargetFlags} from './machine.js'

/** `chaos-lab labs` and `labs show`: what the lessons check, for the learner — never commands, truths or answers. */

export interface LessonSummary {
  id: string
  title: string
  description: string
  checks: number
  /** The book's chapter the lesson belongs to. */
  chapter: number | null
  /** Whether the machine was provisioned with that chapter; null when no machine was asked (or it did not answer). */
  provisioned: boolean | null
}

export interface LabsList {
  lessons: LessonSummary[]
  /** The machine asked which chapters it has: the lab folder's (when --dir holds one) or --target. */
  machine?: {target: string; chapters: number[] | null; error?: string}
}

export function listLessons(chapters?: readonly number[]): LessonSummary[] {
  return loadAllLessons().map((lesson) => ({
    id: lesson.lesson,
    title: lesson.title,
    description: lesson.description,
    checks: lesson.checks.length,
    chapter: lesson.chapter ?? null,
    provisioned: chapters === undefined ? null : lesson.chapter === undefined || chapters.includes(lesson.chapter),
  }))
}

/**
 * `chaos-lab labs`: every lesson with its chapter and, when there is a machine to ask (--target, or a lab folder
 * in --dir), whether it was provisioned with that chapter. A machine that cannot be reached is reported, not an error.
 */
export async function labsOf(flags: TargetFlags, deps: Deps): Promise<LabsList> {
  if (!flags.target && !LabFolder.exists(flags.dir)) return {lessons: listLessons()}
  let label = flags.target ?? flags.dir
  try {
    const machine = await resolveMachine(flags, flags.target ? undefined : LabFolder.load(flags.dir), deps)
    label = machine.target.name
    const chapters = await withSession(machine, deps, provisionedChapters)
    return {lessons: listLessons(chapters), machine: {target: label, chapters: chapters ?? null}}
  } catch (error) {
    return {lessons: listLessons(), machine: {target: label, chapters: null, error: errorMessage(error)}}
  }
}

export interface ShownCheck {
  id: string
  title: string
  kind: Check['kind']
  /** Answer checks: the question and the answer sheet key it goes under. */
  question?: string
  key?: string
  needs: string[]
  /** Only checked on a VM of this profile (e.g. desktop). */
  profile?: string
}

export interface ShownLesson {
  lesson: string
  /** The book's chapter it belongs to. */
  chapter: number | null
  title: string
  description: string
  answerSheet?: string
  /** Where the lab deliberately differs from the book. */
  differences: {topic: string; book: string; lab: string}[]
  checks: ShownCheck[]
}

/** One lesson's checks in the order they are reported, with the answer sheet's questions; an unknown lesson is exit 2. */
export function showLesson(id: string): ShownLesson {
  const lesson = loadLesson(id)
  return {
    lesson: lesson.lesson,
    chapter: lesson.chapter ?? null,
    title: lesson.title,
    description: lesson.description,
    ...(lesson.answerSheet ? {answerSheet: sheetShownAs(lesson.answerSheet)} : {}),
    differences: lesson.differences.map((d) => ({...d})),
    checks: lesson.checks.map((check) => ({
      id: check.id,
      title: check.title,
      kind: check.kind,
      ...(check.kind === 'answer' ? {question: check.question, key: check.key} : {}),
      needs: [...check.needs],
      ...(check.profile ? {profile: check.profile} : {}),
    })),
  }
}
