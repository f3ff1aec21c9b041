import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {createTar} from '../../src/util/tar.js'

describe('createTar', () => {
  it('writes an archive that GNU tar extracts with contents, folders and modes intact', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-lab-tar-'))
    const long = `deep/${'a'.repeat(60)}/${'b'.repeat(60)}/script.sh`
    const archive = createTar([
      {path: 'steps/ORDER', mode: 0o644, content: Buffer.from('base\nchapter2\n')},
      {path: 'steps/base.sh', mode: 0o755, content: Buffer.from('#!/bin/bash\necho hi\n')},
      {path: long, mode: 0o755, content: Buffer.alloc(1300, 'x')},
      {path: 'empty.txt', mode: 0o644, content: Buffer.alloc(0)},
    ])
    writeFileSync(join(dir, 'bundle.tar'), archive)
    execFileSync('tar', ['-xf', 'bundle.tar', '--no-same-owner'], {cwd: dir})
    expect(readFileSync(join(dir, 'steps/ORDER'), 'utf8')).toBe('base\nchapter2\n')
    expect(statSync(join(dir, 'steps/base.sh')).mode & 0o777).toBe(0o755)
    expect(statSync(join(dir, 'steps/ORDER')).mode & 0o777).toBe(0o644)
    expect(readFileSync(join(dir, long)).length).toBe(1300)
    expect(readFileSync(join(dir, 'empty.txt')).length).toBe(0)
    const listing = execFileSync('tar', ['-tvf', 'bundle.tar'], {cwd: dir, encoding: 'utf8'})
    expect(listing).toContain('steps/base.sh')
  })

  it('refuses a path that cannot be stored', () => {
    expect(() => createTar([{path: 'x'.repeat(300), mode: 0o644, content: Buffer.alloc(1)}])).toThrow(/too long/)
  })
})
