import {describe, expect, it} from 'vitest'

import {prose} from '../../src/cli/prose.js'

describe('prose (help text)', () => {
  it('joins each paragraph\'s lines, keeps paragraphs apart, and keeps indented commands on their own line', () => {
    const text = `First line of the first paragraph
goes on here.

Second paragraph, then a command:
  chaos-lab ssh -- sudo tar -xzf - -C / < backup.tar.gz
and more words after it.
`
    expect(prose(text)).toBe(
      'First line of the first paragraph goes on here.\n\n' +
      'Second paragraph, then a command:\n  chaos-lab ssh -- sudo tar -xzf - -C / < backup.tar.gz\nand more words after it.',
    )
  })
})
