export type OutputStream = 'stdout' | 'stderr'

/**
 * Chunks of a command's stdout and stderr as whole lines for an `onLine` callback (a line may arrive in several
 * chunks; \r\n counts as \n). end() hands over what is left of an unfinished last line, stdout first.
 */
export function lineSplitter(onLine: ((line: string, stream: OutputStream) => void) | undefined): {push(chunk: Buffer, stream: OutputStream): void; end(): void} {
  const pending: Record<OutputStream, string> = {stdout: '', stderr: ''}
  return {
    push(chunk, stream) {
      if (!onLine) return
      const lines = (pending[stream] + chunk.toString()).split(/\r?\n/)
      pending[stream] = lines.pop() ?? ''
      for (const line of lines) onLine(line, stream)
    },
    end() {
      if (!onLine) return
      for (const stream of ['stdout', 'stderr'] as const) if (pending[stream]) onLine(pending[stream], stream)
    },
  }
}
