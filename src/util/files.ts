import {renameSync, writeFileSync} from 'node:fs'
import {rename, writeFile} from 'node:fs/promises'

function temporaryFor(file: string): string {
  return `${file}.${process.pid}.tmp`
}

/** Writes through a temporary file and a rename, so a reader never sees half a file. */
export async function writeAtomically(file: string, contents: string): Promise<void> {
  const temporary = temporaryFor(file)
  await writeFile(temporary, contents, 'utf8')
  await rename(temporary, file)
}

/** writeAtomically for synchronous callers. */
export function writeAtomicallySync(file: string, contents: string): void {
  const temporary = temporaryFor(file)
  writeFileSync(temporary, contents, 'utf8')
  renameSync(temporary, file)
}
