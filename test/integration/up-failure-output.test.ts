/**
 * When `vagrant up` fails, its lines reach the user once: not in the live tail, again in listr's failure line
 * and a third time in the final error. The built binary runs against a fake `vagrant` on PATH, three ways: a
 * terminal (a pseudo-terminal from util-linux's `script`, whose screen is replayed here), a log (no terminal: the
 * verbose renderer prints every line as it comes) and --json.
 */
import {spawnSync} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {BIN, isolatedEnv, runCli} from '../helpers/cli.js'
import {shellQuote} from '../../src/util/shell.js'

const LINES = Array.from({length: 8}, (_, i) => `==> default: VAGRANT-LINE-${i + 1}`)
const LAST = 'VAGRANT-STDERR: The box could not be found'

const scratch = mkdtempSync(join(tmpdir(), 'chaos-lab-up-fail-'))
const lab = join(scratch, 'lab')
const bin = join(scratch, 'bin')
let env: Record<string, string>

beforeAll(async () => {
  mkdirSync(bin)
  // `vagrant up` prints its progress and fails; anything else (status, version) succeeds quietly.
  writeFileSync(join(bin, 'vagrant'), `#!/bin/sh\ncase "$1" in\n  up)\n${LINES.map((line) => `    echo ${shellQuote(line)}; sleep 0.05\n`).join('')}    echo ${shellQuote(LAST)} >&2; exit 1 ;;\n  *) exit 0 ;;\nesac\n`)
  chmodSync(join(bin, 'vagrant'), 0o755)
  env = {...isolatedEnv(), PATH: `${bin}:${process.env.PATH ?? ''}`, CI: ''}
  const init = await runCli(['init', '--dir', lab], {env})
  expect(init.code, init.stderr).toBe(0)
}, 60_000)

afterAll(() => {
  rmSync(scratch, {recursive: true, force: true})
})

const count = (text: string, needle: string) => text.split(needle).length - 1

/**
 * What a terminal shows at the end: replays the cursor movements listr2's default renderer uses (erase line,
 * cursor up, column 1) over the text; colours and cursor visibility are dropped.
 */
function screen(raw: string): string {
  const rows: string[] = ['']
  let row = 0
  // eslint-disable-next-line no-control-regex
  for (const token of raw.replace(/\r\n/g, '\n').split(/(\x1b\[[0-9;?]*[A-Za-z]|\n|\r)/)) {
    if (!token) continue
    if (token === '\n') {
      row += 1
      if (rows.length <= row) rows.push('')
    } else if (token === '\r' || token === '\x1b[G') {
      // Column 1: the renderer rewrites whole lines after erasing them.
    } else if (token === '\x1b[2K') {
      rows[row] = ''
    // eslint-disable-next-line no-control-regex
    } else if (/^\x1b\[\d*A$/.test(token)) {
      row = Math.max(0, row - Number(/\d+/.exec(token)?.[0] ?? 1))
    } else if (!token.startsWith('\x1b')) {
      rows[row] = (rows[row] ?? '') + token
    }
  }
  return rows.join('\n')
}

describe('`up` when Vagrant fails: its lines are printed once', () => {
  it('in a terminal: the live tail goes away, listr marks the task, the final error carries the lines', () => {
    const hasScript = spawnSync('sh', ['-c', 'command -v script']).status === 0
    if (!hasScript) throw new Error('util-linux `script` is missing (Debian: bsdutils, essential).')
    const command = `stty cols 160 rows 50; exec ${shellQuote(process.execPath)} ${shellQuote(BIN)} up --dir ${shellQuote(lab)}`
    const result = spawnSync('script', ['-qec', command, '/dev/null'], {encoding: 'utf8', env: {...process.env, ...env, TERM: 'xterm'}, timeout: 60_000})
    const shown = screen(result.stdout)
    expect(shown, shown).toContain('Error: Vagrant could not start the VM')
    expect(shown).toMatch(/✖ Vagrant could not start the VM/)
    for (const line of [...LINES, LAST]) expect(count(shown, line), `${line} on the final screen:\n${shown}`).toBe(1)
    // The live tail did show them while Vagrant ran.
    expect(result.stdout).toContain(`› ${LINES[3]}`)
  }, 60_000)

  it('in a log (no terminal): each line as it comes, then a short failure and an error that points up', async () => {
    const result = await runCli(['up', '--dir', lab], {env})
    expect(result.code).toBe(3)
    const all = result.stdout + result.stderr
    for (const line of [...LINES, LAST]) expect(count(all, line), `${line} in:\n${all}`).toBe(1)
    expect(result.stderr).toMatch(/✖ Vagrant could not start the VM \(`vagrant up --provider virtualbox --no-provision` exited with 1\)\.\n/)
    expect(result.stderr).toMatch(/Error: Vagrant could not start the VM .* \(Its output is above\.\)\nRun `chaos-lab doctor`/)
  }, 60_000)

  it('under --json: nothing live, the lines once in the error\'s message', async () => {
    const result = await runCli(['up', '--dir', lab, '--json'], {env})
    expect(result.code).toBe(3)
    expect(result.json.error.code).toBe('vagrant_failed')
    expect(result.json.error.message).toBe(`Vagrant could not start the VM (\`vagrant up --provider virtualbox --no-provision\` exited with 1).\nIts last lines:\n${[...LINES, LAST].join('\n')}`)
    expect(result.stderr).toBe('')
  }, 60_000)
})

