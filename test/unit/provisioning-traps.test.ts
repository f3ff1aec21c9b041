// provisioning/lib/common.sh against the traps of Ubuntu machines, with fake apt-get and cloud-init programs on
// PATH (fast, no root): an `apt-get update` that exits 0 although a source failed, needrestart, a cloud-init still
// running. The same traps are reproduced on a real Debian VM by test/e2e/ubuntu-traps.test.ts.
import {spawnSync, type SpawnSyncReturns} from 'node:child_process'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeEach, describe, expect, it} from 'vitest'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const common = join(root, 'provisioning', 'lib', 'common.sh')
const scratch = mkdtempSync(join(tmpdir(), 'chaos-lab-traps-'))
afterAll(() => {
  rmSync(scratch, {recursive: true, force: true})
})

const BROKEN = 'http://127.0.0.1:9/broken'
const FETCH_FAILED = [
  `W: Failed to fetch ${BROKEN}/dists/stable/InRelease  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)`,
  'W: Some index files failed to download. They have been ignored, or old ones used instead.',
].join('\n')

let dir: string
let bin: string
beforeEach(() => {
  dir = mkdtempSync(join(scratch, 'case-'))
  bin = join(dir, 'bin')
  mkdirSync(bin)
})

function program(name: string, body: string): void {
  writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`)
  chmodSync(join(bin, name), 0o755)
}

/**
 * A fake apt-get: each call appends its arguments, its needrestart variables and whether the fake cloud-init had
 * finished to calls.log, then answers
 * `update` with the next scripted outcome from the list (the last one repeats): "ok", "fetch-failed" (exit 0
 * with apt's warnings, the trap) or "exit-100"; `install` succeeds.
 */
function fakeAptGet(updates: string[]): void {
  writeFileSync(join(dir, 'updates'), `${updates.join('\n')}\n`)
  writeFileSync(join(dir, 'fetch-failed'), `${FETCH_FAILED}\n`)
  program('apt-get', `
echo "$* | SUSPEND=\${NEEDRESTART_SUSPEND:-} MODE=\${NEEDRESTART_MODE:-} | cloud-init-done=$([ -e ${dir}/done ] && echo yes || echo no)" >> ${dir}/calls.log
case " $* " in
  *" update "*)
    n=$(grep -c ' update ' ${dir}/calls.log)
    outcome=$(sed -n "\${n}p" ${dir}/updates); [ -n "$outcome" ] || outcome=$(tail -n 1 ${dir}/updates)
    case $outcome in
      ok) echo "Hit:1 http://mirror.invalid/debian stable InRelease" ;;
      fetch-failed) echo "Err:2 ${BROKEN} stable InRelease"; cat ${dir}/fetch-failed >&2 ;;
      exit-100) echo "E: The repository '${BROKEN} stable Release' does not have a Release file." >&2; exit 100 ;;
    esac ;;
  *" install "*) echo "Setting up fake ..." ;;
esac
exit 0`)
}

/** Runs a snippet with common.sh sourced (strict mode, like the steps), its state and logs in the case's folder. */
function lib(script: string, env: Record<string, string> = {}): SpawnSyncReturns<string> {
  const prelude = [
    'set -euo pipefail; STEP=test',
    `. ${JSON.stringify(common)}`,
    `STEP_TMP=${dir}; CHAOS_LAB_APT_LOG=${dir}/apt.log; CHAOS_LAB_APT_STAMP=${dir}/apt-update.stamp`,
    'check_env',
  ].join('\n')
  return spawnSync('bash', ['-c', `${prelude}\n${script}`], {
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      ...process.env,
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      CHAOS_LAB_APT_BACKOFF: '0 0',
      CHAOS_LAB_CLOUD_INIT_SETTLED: join(dir, 'run', 'cloud-init-settled'),
      ...env,
    },
  })
}

const calls = () => readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n')
const updates = () => calls().filter((line) => / update /.test(` ${line}`))
const lastLine = (result: SpawnSyncReturns<string>) => result.stderr.trim().split('\n').at(-1) ?? ''

describe('apt-get update that exits 0 although a source failed', () => {
  it('is a failure: retried, then a clear error naming the source, and the lists are never stamped fresh', () => {
    fakeAptGet(['fetch-failed'])
    writeFileSync(join(dir, 'apt-update.stamp'), '') // a stamp from an earlier good run goes too
    const result = lib('apt_update; echo reached')
    expect(result.status).toBe(1)
    expect(result.stdout).not.toContain('reached')
    expect(updates()).toHaveLength(3) // CHAOS_LAB_APT_BACKOFF "0 0": three tries
    expect(result.stdout).toMatch(/apt-get update failed \(try 1 of 3: http:\/\/127\.0\.0\.1:9\/broken stable: Could not connect/)
    expect(lastLine(result)).toMatch(/^\[test\] FAILED: apt-get update could not read the package source http:\/\/127\.0\.0\.1:9\/broken stable: Could not connect to 127\.0\.0\.1:9 .*3 tries; fix or remove that source/)
    expect(existsSync(join(dir, 'apt-update.stamp'))).toBe(false)
  })

  it('a source that fails once and then answers: the retry succeeds and stamps the lists', () => {
    fakeAptGet(['fetch-failed', 'ok'])
    const result = lib('apt_update; echo reached')
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toContain('reached')
    expect(result.stdout).toContain('apt-get update (try 2 of 3)')
    expect(updates()).toHaveLength(2)
    expect(existsSync(join(dir, 'apt-update.stamp'))).toBe(true)
  })

  it('a clean update is stamped at once', () => {
    fakeAptGet(['ok'])
    const result = lib('apt_update')
    expect(result.status, result.stderr).toBe(0)
    expect(updates()).toHaveLength(1)
    expect(existsSync(join(dir, 'apt-update.stamp'))).toBe(true)
  })

  it('an update that exits non-zero fails with apt\'s own words after the retries', () => {
    fakeAptGet(['exit-100'])
    const result = lib('apt_update')
    expect(result.status).toBe(1)
    expect(updates()).toHaveLength(3)
    expect(lastLine(result)).toMatch(/FAILED: apt-get update failed 3 times \(exit 100: E: The repository .* does not have a Release file\.\)/)
  })

  it('apt_install never installs from lists a failed update left stale (no "Unable to locate package" later)', () => {
    fakeAptGet(['fetch-failed'])
    const result = lib('apt_install definitely-not-installed-chaos-pkg')
    expect(result.status).toBe(1)
    expect(calls().some((line) => line.includes(' install '))).toBe(false)
    expect(lastLine(result)).toMatch(/could not read the package source http:\/\/127\.0\.0\.1:9\/broken stable/)
  })

  it('several failed sources are all listed, the first in the last line', () => {
    fakeAptGet(['fetch-failed'])
    const failures = `${FETCH_FAILED}\nE: Failed to fetch http://127.0.0.1:10/other/dists/sid/main/binary-amd64/Packages.xz  404  Not Found`
    writeFileSync(join(dir, 'fetch-failed'), `${failures}\n`)
    program('apt-get', `echo "$*" >> ${dir}/calls.log; cat ${dir}/fetch-failed >&2; exit 0`)
    const result = lib('apt_update')
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('---- package sources that could not be read:')
    expect(result.stderr).toContain('http://127.0.0.1:10/other sid: 404  Not Found')
    expect(lastLine(result)).toMatch(/could not read 2 package sources \(listed above\), 3 tries, first http:\/\/127\.0\.0\.1:10\/other sid/)
  })

  it('harmless warnings (a key in the legacy keyring) are not failures', () => {
    program('apt-get', `echo "$*" >> ${dir}/calls.log; echo 'W: http://x.invalid/ubuntu/dists/jammy/InRelease: Key is stored in legacy trusted.gpg keyring (/etc/apt/trusted.gpg), see the DEPRECATION section in apt-key(8) for details.' >&2; exit 0`)
    const result = lib('apt_update')
    expect(result.status, result.stderr).toBe(0)
    expect(existsSync(join(dir, 'apt-update.stamp'))).toBe(true)
  })
})

describe('needrestart', () => {
  it('is suspended for every apt run of chaos-lab (NEEDRESTART_SUSPEND=1, NEEDRESTART_MODE=l)', () => {
    fakeAptGet(['ok'])
    const result = lib('apt_update; _apt install -y definitely-not-installed-chaos-pkg')
    expect(result.status, result.stderr).toBe(0)
    const lines = calls()
    expect(lines.length).toBeGreaterThanOrEqual(2) // update and install
    for (const line of lines) expect(line).toMatch(/SUSPEND=1 MODE=l /)
  })
})

describe('cloud-init still running (a cloud image reached over SSH early)', () => {
  /** A fake cloud-init that says "running" until the file `done` exists; `status --wait` makes it after a while. */
  function fakeCloudInit(finishAfterSeconds: number): void {
    program('cloud-init', `
[ "$1" = status ] || exit 2
if [ "$2" = --wait ]; then
  sleep ${finishAfterSeconds}; touch ${dir}/done
fi
if [ -e ${dir}/done ]; then echo "status: done"; else echo "status: running"; fi`)
  }

  it('the first apt run waits until cloud-init is done, then apt runs (once per boot)', () => {
    fakeCloudInit(1)
    fakeAptGet(['ok'])
    const result = lib('apt_update; apt_update')
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/waiting for cloud-init to finish \(status: running; up to 900s\)/)
    expect(result.stdout).toMatch(/cloud-init finished after \d+s \(status: done\)/)
    expect(result.stdout.match(/waiting for cloud-init/g)).toHaveLength(1)
    expect(updates()).toHaveLength(2)
    for (const line of updates()) expect(line).toContain('cloud-init-done=yes')
    expect(existsSync(join(dir, 'run', 'cloud-init-settled'))).toBe(true)
  })

  it('bounded: still running at the end of CHAOS_LAB_CLOUD_INIT_WAIT fails with the next step, before any apt run', () => {
    fakeCloudInit(30)
    fakeAptGet(['ok'])
    const result = lib('apt_update', {CHAOS_LAB_CLOUD_INIT_WAIT: '1'})
    expect(result.status).toBe(1)
    expect(lastLine(result)).toMatch(/FAILED: cloud-init was still running after 1s .*cloud-init status --wait/)
    expect(existsSync(join(dir, 'calls.log'))).toBe(false)
  })

  it('finished, disabled or absent: no waiting', () => {
    program('cloud-init', 'echo "status: disabled"')
    fakeAptGet(['ok'])
    const result = lib('apt_update')
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).not.toContain('waiting for cloud-init')
  })
})
