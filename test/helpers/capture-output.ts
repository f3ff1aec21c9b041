import {vi} from 'vitest'

/** Runs a command in-process with stdout and stderr captured (and restored afterwards, even when it throws). */
export async function captureOutput<T>(run: () => Promise<T>): Promise<{stdout: string; stderr: string; returned: T}> {
  let stdout = ''
  let stderr = ''
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => { stdout += String(chunk); return true })
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => { stderr += String(chunk); return true })
  try {
    const returned = await run()
    return {stdout, stderr, returned}
  } finally {
    out.mockRestore()
    err.mockRestore()
  }
}
