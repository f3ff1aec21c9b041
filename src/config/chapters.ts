import {UsageError} from '../errors.js'
import {CHAPTERS} from './schema.js'

/** The chapter a provisioning step belongs to (`chapter3` → 3), or undefined for the steps every lab gets. */
export function chapterOfStep(step: string): number | undefined {
  const match = /^chapter(\d+)$/.exec(step)
  return match ? Number(match[1]) : undefined
}

export function stepOfChapter(chapter: number): string {
  return `chapter${chapter}`
}

/**
 * `--chapters 3,4` (or `3 4`, `ch3`): the chapters, each one chaos-lab provides; anything else is a usage error
 * (exit 2) listing the known ones.
 */
export function parseChapterList(text: string, flag = '--chapters'): number[] {
  const known = CHAPTERS.join(', ')
  const words = text.split(/[\s,]+/).filter(Boolean)
  if (words.length === 0) throw new UsageError(`${flag} needs at least one chapter, such as ${flag} ${CHAPTERS.at(-1) ?? 3}.`, {suggestion: `Known chapters: ${known}.`}, 'bad_chapters')
  const chapters = words.map((word) => {
    const match = /^(?:ch(?:apter)?)?(\d+)$/i.exec(word)
    const chapter = match ? Number(match[1]) : Number.NaN
    if (!(CHAPTERS as readonly number[]).includes(chapter)) {
      throw new UsageError(`${flag}: "${word}" is not a chapter chaos-lab provides.`, {
        suggestion: `Known chapters: ${known} (e.g. ${flag} ${CHAPTERS.join(',')}).`,
        data: {chapter: word, known: [...CHAPTERS]},
      }, 'unknown_chapter')
    }
    return chapter
  })
  return [...new Set(chapters)].sort((a, b) => a - b)
}

/**
 * The chapters a run asks for: the lab folder's `chapters:` plus --chapters. Without a lab folder (--target, or
 * --inventory without a chaos-lab.yaml): --chapters, or undefined, which the provisioner reads as "the chapters the
 * machine has, or every chapter on a new machine" (the book's VM). Chapters a machine already has stay up to date.
 */
export function chaptersAskedFor(flag: readonly number[] | undefined, lab: {config: {chapters: readonly number[]}} | undefined): number[] | undefined {
  if (!lab) return flag ? [...flag] : undefined
  return [...new Set([...lab.config.chapters, ...(flag ?? [])])].sort((a, b) => a - b)
}
