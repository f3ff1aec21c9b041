/**
 * Help text written in the source as hard-wrapped paragraphs, made into what oclif shows well: each paragraph
 * one line (oclif wraps it to the terminal's width), paragraphs still apart, and a line indented by two spaces
 * (a command to copy) kept on a line of its own. Without this, oclif wraps the source's own short lines again
 * and the help comes out ragged.
 */
export function prose(text: string): string {
  return text.trim().split(/\n\s*\n/).map((paragraph) => {
    const lines: string[] = []
    let words = ''
    for (const line of paragraph.split('\n')) {
      if (line.startsWith('  ')) {
        if (words) lines.push(words)
        words = ''
        lines.push(line.trimEnd())
      } else {
        words = words ? `${words} ${line.trim()}` : line.trim()
      }
    }
    if (words) lines.push(words)
    return lines.join('\n')
  }).join('\n\n')
}
