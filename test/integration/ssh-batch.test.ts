import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {CommandBatcher, parseFrame} from '../../src/ssh/batch.js'
import {ConnectionLostError, connectSsh, type ExecResult} from '../../src/ssh/session.js'
import {FakeSession} from '../helpers/fake-session.js'
import {startFakeSshServer} from '../helpers/fake-ssh-server.js'
import {LocalBashSession} from '../helpers/local-bash-session.js'

const TARGET = {host: '127.0.0.1', port: 22, user: 'chaos', identityFile: 'k', name: 'vm'}

describe('CommandBatcher with a real bash', () => {
  it('runs commands asked for together as one script, each with its own output and exit code', async () => {
    const session = new LocalBashSession()
    const batcher = new CommandBatcher(session)
    const commands = [
      'echo one; echo "to stderr" >&2',
      'printf "no newline at the end"; exit 3',
      `x='it'"'"'s "quoted" \\ back'; echo "$x in $HOME"
echo second line`,
      'true',
    ]
    const batched = await Promise.all(commands.map((command) => batcher.exec(command)))
    expect(session.commands).toEqual(['exec bash -s'])
    // The same as each command run on a channel of its own, except that output always ends with a newline.
    const alone = await Promise.all(commands.map((command) => new LocalBashSession().exec(command)))
    const endLines = (result: ExecResult) => ({...result, stdout: result.stdout.replace(/(?<=[^\n])$/, '\n')})
    expect(batched).toEqual(alone.map(endLines))
    expect(batched[1]).toEqual({code: 3, signal: null, stdout: 'no newline at the end\n', stderr: ''})
    expect(batched[2]?.stdout).toBe(`it's "quoted" \\ back in ${process.env.HOME ?? ''}\nsecond line\n`)
  })

  it('gives each command an empty stdin, and keeps a syntax error to the command that has it', async () => {
    const batcher = new CommandBatcher(new LocalBashSession())
    const [reads, broken, fine] = await Promise.all([
      batcher.exec('cat; echo "read: done"'),
      batcher.exec('if then fi'),
      batcher.exec('echo fine'),
    ])
    expect(reads?.stdout).toBe('read: done\n')
    expect(broken?.code).not.toBe(0)
    expect(broken?.stderr).toMatch(/syntax error/)
    expect(fine).toMatchObject({code: 0, stdout: 'fine\n'})
  })

  it('reports each command when it ends, so a slow one does not hold up the others', async () => {
    const batcher = new CommandBatcher(new LocalBashSession())
    const order: string[] = []
    const track = (name: string, promise: Promise<ExecResult>) => promise.then((result) => { order.push(name); return result })
    await Promise.all([track('slow', batcher.exec('sleep 1.5; echo slow')), track('fast', batcher.exec('echo fast'))])
    expect(order).toEqual(['fast', 'slow'])
  })

  it('times out a command on its own limit while the others in its script finish', async () => {
    const batcher = new CommandBatcher(new LocalBashSession())
    const [stuck, quick] = await Promise.allSettled([
      batcher.exec('sleep 30', {timeoutMs: 400}),
      batcher.exec('echo quick', {timeoutMs: 20_000}),
    ])
    expect(stuck.status).toBe('rejected')
    expect((stuck as PromiseRejectedResult).reason).toMatchObject({code: 'command_timeout'})
    expect(quick).toMatchObject({status: 'fulfilled', value: {code: 0, stdout: 'quick\n'}})
  })

  it('runs one command alone as a plain exec, and commands asked for later in a script of their own', async () => {
    const session = new LocalBashSession()
    const batcher = new CommandBatcher(session)
    expect((await batcher.exec('echo alone')).stdout).toBe('alone\n')
    await Promise.all([batcher.exec('echo a'), batcher.exec('echo b')])
    expect(session.commands).toEqual(['echo alone', 'exec bash -s'])
  })

  it('works in a folder of its own under TMPDIR and removes it', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'chaos-lab-batch-test-'))
    try {
      const batcher = new CommandBatcher(new LocalBashSession({TMPDIR: tmp}))
      const [seen] = await Promise.all([batcher.exec('ls -A "$TMPDIR" | wc -l'), batcher.exec('true')])
      expect(seen?.stdout.trim()).toBe('1')
      // The results arrive as the commands end; the script removes its folder just after.
      for (let i = 0; i < 50 && readdirSync(tmp).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
      expect(readdirSync(tmp)).toEqual([])
    } finally {
      rmSync(tmp, {recursive: true, force: true})
    }
  })
})

describe('CommandBatcher over a real ssh2 connection', () => {
  it('sends the script as the channel\'s stdin and reads the reports as they stream back', async () => {
    // The in-process SSH server hands `exec bash -s` and its stdin to a local bash, as sshd would.
    const server = await startFakeSshServer({rules: [['exec bash -s', async ({stdin}) => {
      const result = await new LocalBashSession().exec('exec bash -s', {stdin})
      return {stdout: result.stdout, stderr: result.stderr, code: result.code ?? 1}
    }]]})
    const session = await connectSsh(server.target, {knownHosts: server.knownHosts})
    try {
      const batcher = new CommandBatcher(session)
      const results = await Promise.all([batcher.exec('echo one'), batcher.exec('echo two >&2; exit 4'), batcher.exec('printf "%s\\n" a b c')])
      expect(results).toEqual([
        {code: 0, signal: null, stdout: 'one\n', stderr: ''},
        {code: 4, signal: null, stdout: '', stderr: 'two\n'},
        {code: 0, signal: null, stdout: 'a\nb\nc\n', stderr: ''},
      ])
      expect(server.requests.map((request) => request.command)).toEqual(['exec bash -s'])
    } finally {
      await session.close()
      await server.close()
    }
  })
})

describe('CommandBatcher when the script cannot run', () => {
  it('runs each command on its own when the machine did not report on them (no bash there)', async () => {
    const session = new FakeSession([[/^exec bash -s$/, {code: 127, stderr: 'bash: not found\n'}], [/^echo (\w+)$/, (command) => ({stdout: `${command.slice(5)}\n`})]], TARGET)
    const batcher = new CommandBatcher(session)
    const results = await Promise.all([batcher.exec('echo a'), batcher.exec('echo b')])
    expect(results.map((result) => result.stdout)).toEqual(['a\n', 'b\n'])
    expect(session.commands).toEqual(['exec bash -s', 'echo a', 'echo b'])
  })

  it('fails every command with the lost connection instead of asking again', async () => {
    const lost = new ConnectionLostError(TARGET, 'the connection closed')
    const session = new FakeSession([[/^exec bash -s$/, () => { throw lost }]], TARGET)
    const batcher = new CommandBatcher(session)
    const results = await Promise.allSettled([batcher.exec('echo a'), batcher.exec('echo b')])
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected'])
    expect(results.map((result) => (result as PromiseRejectedResult).reason as unknown)).toEqual([lost, lost])
    expect(session.commands).toEqual(['exec bash -s'])
  })
})

describe('parseFrame', () => {
  it('reads the three kinds of line and ignores everything else', () => {
    expect(parseFrame('@@m 2 o some text ', '@@m')).toEqual({index: 2, kind: 'o', text: 'some text '})
    expect(parseFrame('@@m 0 o', '@@m')).toEqual({index: 0, kind: 'o', text: ''})
    expect(parseFrame('@@m 1 e oops', '@@m')).toEqual({index: 1, kind: 'e', text: 'oops'})
    expect(parseFrame('@@m 1 end 137', '@@m')).toEqual({index: 1, kind: 'end', code: 137})
    expect(parseFrame('@@m 1 end x', '@@m')).toBeUndefined()
    expect(parseFrame('@@other 1 o x', '@@m')).toBeUndefined()
    expect(parseFrame('welcome to the machine', '@@m')).toBeUndefined()
  })
})
