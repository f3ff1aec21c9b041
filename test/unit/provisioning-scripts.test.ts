// Static and local checks of provisioning/: the shell scripts parse (and pass shellcheck where it is installed),
// the shared shell library behaves, and the programs that go into the VM work where this machine can run them
// safely (the FizzBuzz API on loopback, mystery000; mystery001 is only compiled, never run here).
import {spawn, spawnSync, type SpawnSyncReturns} from 'node:child_process'
import {chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {createServer as createHttpServer} from 'node:http'
import {createServer, type AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {dirname, join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const provisioning = join(root, 'provisioning')

function walk(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  )
}

const allFiles = walk(provisioning)
const shellScripts = allFiles.filter((file) => file.endsWith('.sh'))

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0
}

function run(command: string, args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync(command, args, {encoding: 'utf8', env: {...process.env, ...env}, timeout: 80_000})
}

/** run(), without blocking this process: for scripts that talk to a server the test itself runs. */
function runAsync(command: string, args: string[], env: Record<string, string> = {}): Promise<{code: number | null; stdout: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'inherit'], timeout: 80_000})
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.on('error', reject)
    child.on('close', (code) => { resolve({code, stdout}) })
  })
}

const scratch = mkdtempSync(join(tmpdir(), 'chaos-lab-prov-'))
afterAll(() => {
  rmSync(scratch, {recursive: true, force: true})
})

describe('provisioning scripts', () => {
  it('has the three steps in ORDER, each an executable script', () => {
    const order = readFileSync(join(provisioning, 'steps', 'ORDER'), 'utf8').split('\n').filter(Boolean)
    expect(order).toEqual(['base', 'desktop', 'chapter2'])
    for (const step of order) {
      expect(statSync(join(provisioning, 'steps', `${step}.sh`)).mode & 0o111).not.toBe(0)
    }
    expect(statSync(join(provisioning, 'run-all.sh')).mode & 0o111).not.toBe(0)
  })

  it.each(shellScripts.map((file) => [relative(root, file), file]))('bash -n %s', (_name, file) => {
    const result = run('bash', ['-n', file])
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
  })

  it.skipIf(!has('shellcheck') && process.env.CI !== 'true')('passes shellcheck', () => {
    if (!has('shellcheck')) throw new Error('CI=true but shellcheck is missing: install Debian\'s shellcheck (.ci/run does).')
    const result = run('shellcheck', ['-x', ...shellScripts])
    expect(result.stdout + result.stderr).toBe('')
    expect(result.status).toBe(0)
  }, 90_000)

  it('names no mirror host and no path of a developer machine', () => {
    for (const file of allFiles) {
      const text = readFileSync(file, 'utf8')
      expect(text, file).not.toMatch(/deb\.debian\.org|archive\.ubuntu\.com|security\.ubuntu\.com|\/work\/|\/root\//)
    }
  })

  it('lists desktop packages as distro:package for both distributions', () => {
    const lines = readFileSync(join(provisioning, 'lib', 'desktop-packages.txt'), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    for (const line of lines) expect(line).toMatch(/^(ubuntu|debian):[a-z0-9][a-z0-9+.-]+$/)
    expect(lines).toContain('ubuntu:ubuntu-desktop-minimal')
    expect(lines).toContain('debian:gnome-core')
  })

  it('ships a lesson 2 answer sheet with every key empty and a question above each', () => {
    const text = readFileSync(join(provisioning, 'files', 'answers', 'lesson-2.yaml'), 'utf8')
    const keys = ['mystery000_exit_code', 'mystery000_signal', 'sigterm_exit_code', 'sigkill_exit_code',
      'mystery001_killed_by', 'oom_kill_allocating_task', 'oom_dump_tasks']
    expect(parse(text)).toEqual(Object.fromEntries(keys.map((key) => [key, null])))
    for (const key of keys) expect(text).toMatch(new RegExp(`\\n# [^\\n]+\\n${key}:\\n`))
  })

  it('skips the desktop step for the headless profile without needing root', () => {
    const result = run('bash', [join(provisioning, 'steps', 'desktop.sh')], {CHAOS_LAB_PROFILE: 'headless'})
    expect(result.status).toBe(0)
    expect(result.stdout).toContain('skipped (headless profile)')
  })

  it('rejects an unknown profile with a clear last line', () => {
    const result = run('bash', [join(provisioning, 'steps', 'desktop.sh')], {CHAOS_LAB_PROFILE: 'fancy'})
    expect(result.status).not.toBe(0)
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(/FAILED: CHAOS_LAB_PROFILE must be/)
  })
})

describe('lib/common.sh', () => {
  // Runs a bash snippet with common.sh sourced, in strict mode like the steps.
  function lib(script: string, env: Record<string, string> = {}): SpawnSyncReturns<string> {
    const prelude = `set -euo pipefail; STEP=test; . ${JSON.stringify(join(provisioning, 'lib', 'common.sh'))}; check_env\n`
    return run('bash', ['-c', prelude + script], env)
  }

  function osRelease(name: string, text: string): string {
    const file = join(scratch, name)
    writeFileSync(file, text)
    return file
  }

  it('detects Ubuntu and Debian and refuses anything else', () => {
    const ubuntu = osRelease('ubuntu', 'ID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n')
    const debian = osRelease('debian', 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    const fedora = osRelease('fedora', 'ID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40"\n')
    const show = 'detect_distro; echo "$DISTRO_ID $DISTRO_VERSION"'
    expect(lib(show, {CHAOS_LAB_OS_RELEASE: ubuntu}).stdout.trim()).toBe('ubuntu 22.04')
    expect(lib(show, {CHAOS_LAB_OS_RELEASE: debian}).stdout.trim()).toBe('debian 12')
    const refused = lib(show, {CHAOS_LAB_OS_RELEASE: fedora})
    expect(refused.status).toBe(1)
    expect(refused.stderr).toMatch(/FAILED: unsupported distribution 'Fedora Linux 40'/)
  })

  it('install_file writes only when the content differs and says so', () => {
    const src = join(scratch, 'src.txt')
    const dest = join(scratch, 'out', 'dest.txt')
    writeFileSync(src, 'one\n')
    const owner = run('id', ['-un']).stdout.trim()
    const install = `install_file ${src} ${dest} 0640 ${owner}; echo "changed=$FILE_CHANGED"`
    const first = lib(install)
    expect(first.stdout).toContain(`wrote ${dest}`)
    expect(first.stdout).toContain('changed=yes')
    expect(readFileSync(dest, 'utf8')).toBe('one\n')
    expect(statSync(dest).mode & 0o777).toBe(0o640)
    expect(lib(install).stdout.trim()).toBe('changed=no')
    writeFileSync(src, 'two\n')
    expect(lib(install).stdout).toContain('changed=yes')
    expect(readFileSync(dest, 'utf8')).toBe('two\n')
  })

  it.skipIf(process.getuid?.() !== 0)('install_learner_file keeps a learner edit, tracks the pristine copy and restores it on reset', () => {
    const src = join(scratch, 'unit.service')
    const dest = join(scratch, 'learner', 'unit.service')
    const pristineDir = join(scratch, 'pristine')
    const owner = run('id', ['-un']).stdout.trim()
    const install = `CHAOS_LAB_PRISTINE_DIR=${pristineDir}; STEP_TMP=${scratch}
      install_learner_file ${src} ${dest} 0644 ${owner} systemd/unit.service; echo "changed=$FILE_CHANGED"
      write_pristine_manifest test`
    writeFileSync(src, 'v1\n')
    expect(lib(install).stdout).toContain('changed=yes')
    writeFileSync(src, 'v2\n') // a new version of ours replaces an untouched copy
    expect(lib(install).stdout).toContain('changed=yes')
    expect(readFileSync(dest, 'utf8')).toBe('v2\n')
    writeFileSync(dest, 'v2 + StartLimitIntervalSec=0\n') // the learner's fix
    writeFileSync(src, 'v3\n')
    const kept = lib(install)
    expect(kept.stdout).toContain('changed by the learner')
    expect(kept.stdout).toContain('changed=no')
    expect(readFileSync(dest, 'utf8')).toBe('v2 + StartLimitIntervalSec=0\n')
    expect(readFileSync(join(pristineDir, 'systemd', 'unit.service'), 'utf8')).toBe('v3\n')
    expect(readFileSync(join(pristineDir, 'test.manifest'), 'utf8')).toContain(`systemd/unit.service\t${dest}\t0644`)
    expect(lib(install, {CHAOS_LAB_RESET: '1'}).stdout).toContain('changed=yes')
    expect(readFileSync(dest, 'utf8')).toBe('v3\n')
  })
})

describe('the killers', () => {
  // A fake systemctl that answers `systemctl show -p MainPID --value UNIT` from files, and real victims.
  function fakeSystemd(pids: Record<string, number>, ports: Record<string, number> = {}): {bin: string; dir: string} {
    const dir = mkdtempSync(join(scratch, 'systemd-'))
    const bin = join(dir, 'bin')
    spawnSync('mkdir', [bin])
    for (const [unit, pid] of Object.entries(pids)) writeFileSync(join(dir, unit), `${pid}\n`)
    for (const [unit, port] of Object.entries(ports)) {
      writeFileSync(join(dir, `${unit}.ExecStart`), `{ path=/usr/bin/python3 ; argv[]=/usr/bin/python3 /opt/chaos-lab/fizzbuzz/fizzbuzz_api.py ${port} ; ignore_errors=no ; pid=0 ; code=(null) ; status=0/0 }\n`)
    }
    // `systemctl show -p MainPID --value UNIT` prints the PID; `-p ExecStart` what systemd shows for the unit.
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\nfor a; do u=$a; done\ncase "$*" in\n*is-active*) cat "${dir}/$u.state" 2>/dev/null || echo active ;;\n*ExecStart*) cat "${dir}/$u.ExecStart" 2>/dev/null ;;\n*) cat "${dir}/$u" 2>/dev/null || echo 0 ;;\nesac\n`)
    writeFileSync(join(bin, 'sudo'), '#!/bin/sh\nexec "$@"\n')
    chmodSync(join(bin, 'systemctl'), 0o755)
    chmodSync(join(bin, 'sudo'), 0o755)
    return {bin, dir}
  }

  async function victim(): Promise<{pid: number; ended: Promise<string | null>}> {
    const child = spawn('sleep', ['30'], {stdio: 'ignore'})
    await new Promise((resolve) => child.once('spawn', resolve))
    const ended = new Promise<string | null>((resolve) => child.once('exit', (_code, signal) => {
      resolve(signal)
    }))
    return {pid: child.pid ?? 0, ended}
  }

  it('killer_while.sh kills each unit by its MainPID and skips a unit that is not running', async () => {
    const a = await victim()
    const {bin} = fakeSystemd({faas001_a: a.pid, faas001_b: 0})
    const result = run('bash', [join(provisioning, 'files', 'chapter2', 'killer_while.sh')], {
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      KILLS: '2',
      INTERVAL: '0.2',
      PAUSE: '0.1',
    })
    expect(result.status).toBe(0)
    expect(result.stdout).toContain(`faas001_a [1/2]: sent SIGTERM to its main process ${a.pid}`)
    expect(result.stdout).toMatch(/faas001_b \[2\/2\]: not running, skipped/)
    expect(await a.ended).toBe('SIGTERM')
  })

  it('killer_while.sh waits until the instance it attacked answers HTTP again before it attacks the next', async () => {
    const a = await victim()
    const b = await victim()
    const server = createHttpServer((_request, response) => { response.end('ok') })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const {port} = server.address() as AddressInfo
    try {
      const {bin} = fakeSystemd({faas001_a: a.pid, faas001_b: b.pid}, {faas001_a: port})
      const result = await runAsync('bash', [join(provisioning, 'files', 'chapter2', 'killer_while.sh')], {
        PATH: `${bin}:${process.env.PATH ?? ''}`, KILLS: '1', INTERVAL: '0.1', PAUSE: '0', READY_WAIT: '5',
      })
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(new RegExp(`faas001_a answers on port ${port} again \\(after \\d+\\.\\ds\\)[\\s\\S]*faas001_b \\[1/1\\]: sent SIGTERM`))
      expect(await b.ended).toBe('SIGTERM')
    } finally {
      server.close()
    }
  })

  it('killer_while.sh goes on after READY_WAIT when the instance does not come back, at once when it failed', async () => {
    const a = await victim()
    const {bin, dir} = fakeSystemd({faas001_a: a.pid, faas001_b: 0}, {faas001_a: 9})
    const killerWhile = (waitSec: string) => run('bash', [join(provisioning, 'files', 'chapter2', 'killer_while.sh')], {
      PATH: `${bin}:${process.env.PATH ?? ''}`, KILLS: '1', INTERVAL: '0.1', PAUSE: '0', READY_WAIT: waitSec,
    })
    const slow = killerWhile('1')
    expect(slow.status).toBe(0)
    expect(slow.stdout).toMatch(/faas001_a did not answer on port 9 within 1s: going on anyway[\s\S]*faas001_b \[1\/1\]: not running, skipped/)
    writeFileSync(join(dir, 'faas001_a.state'), 'failed\n')
    const failed = killerWhile('60')
    expect(failed.status).toBe(0)
    expect(failed.stdout).toMatch(/faas001_a has failed and stays down \(see systemctl status faas001_a\): going on/)
  })

  it('cereal_killer.sh kills A, waits, then kills B', async () => {
    const a = await victim()
    const b = await victim()
    const {bin} = fakeSystemd({faas001_a: a.pid, faas001_b: b.pid})
    const result = run('bash', [join(provisioning, 'files', 'chapter2', 'cereal_killer.sh')], {
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      DELAY: '0.1',
    })
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(new RegExp(`faas001_a: sent SIGTERM to its main process ${a.pid}[\\s\\S]*faas001_b`))
    expect(await a.ended).toBe('SIGTERM')
    expect(await b.ended).toBe('SIGTERM')
  })
})

describe.skipIf(!has('gcc'))('the mystery programs', () => {
  it('mystery000 dies of SIGFPE (shell: exit 136)', () => {
    const binary = join(scratch, 'mystery000')
    const build = run('gcc', ['-O0', '-o', binary, join(provisioning, 'files', 'chapter2', 'mystery000.c')])
    expect(build.stderr).toBe('')
    expect(run(binary, []).signal).toBe('SIGFPE')
    const shell = run('bash', ['-c', `${binary} >/dev/null 2>&1; echo $?`])
    expect(shell.stdout.trim()).toBe('136')
  })

  it('mystery001 compiles cleanly (it is never run here: it eats memory until the OOM killer stops it)', () => {
    const build = run('gcc', ['-O0', '-Wall', '-Wextra', '-o', join(scratch, 'mystery001'),
      join(provisioning, 'files', 'chapter2', 'mystery001.c')])
    expect(build.stderr).toBe('')
    expect(build.status).toBe(0)
  })
})

describe.skipIf(!has('python3'))('the FizzBuzz API', () => {
  async function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer()
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        const address = server.address()
        const port = typeof address === 'object' && address !== null ? address.port : 0
        server.close(() => {
          resolve(port)
        })
      })
    })
  }

  it('answers FizzBuzz, reports errors as JSON and exits 143 on SIGTERM', async () => {
    const port = await freePort()
    const api = spawn('python3', [join(provisioning, 'files', 'fizzbuzz', 'fizzbuzz_api.py'), String(port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const exited = new Promise<number | null>((resolve) => api.once('exit', (code) => {
      resolve(code)
    }))
    const firstLine = await new Promise<string>((resolve, reject) => {
      let buffer = ''
      api.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString()
        if (buffer.includes('\n')) resolve(buffer.split('\n')[0] ?? '')
      })
      api.once('exit', () => {
        reject(new Error(`API exited early: ${buffer}`))
      })
    })
    expect(firstLine).toBe('FizzBuzz API version 0.0.7 is up and running.')

    const base = `http://127.0.0.1:${port}`
    const get = async (path: string): Promise<{status: number; body: unknown}> => {
      const response = await fetch(base + path)
      return {status: response.status, body: await response.json()}
    }
    expect(await get('/api/v1/')).toEqual({
      status: 200,
      body: {service: 'fizzbuzz', version: '0.0.7', instance: String(port)},
    })
    const cases: [number, string][] = [[1, '1'], [3, 'Fizz'], [5, 'Buzz'], [15, 'FizzBuzz'], [98, '98'], [10 ** 12, 'Buzz']]
    for (const [n, result] of cases) {
      expect(await get(`/api/v1/fizzbuzz/${n}`)).toEqual({status: 200, body: {n, result, instance: String(port)}})
    }
    for (const bad of ['0', '-3', 'abc', '1000000000001', '1.5']) {
      const response = await get(`/api/v1/fizzbuzz/${bad}`)
      expect(response.status, bad).toBe(400)
      expect(response.body).toHaveProperty('error')
    }
    expect((await get('/nope')).status).toBe(404)

    api.kill('SIGTERM')
    expect(await exited).toBe(143)
  }, 60_000)
})
