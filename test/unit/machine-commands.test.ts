/**
 * `up`, `destroy` and `reset` in-process with a fake Vagrant. `up --provider`: which machine it connects to after
 * `vagrant up` (a regression test: the lab folder was loaded twice and the second load forgot the override), and
 * the one confirmation flag of destructive commands.
 */
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, afterEach, describe, expect, it} from 'vitest'

import Destroy from '../../src/commands/destroy.js'
import Reset from '../../src/commands/reset.js'
import Up from '../../src/commands/up.js'
import {setDepsForTesting} from '../../src/deps.js'
import {UnreachableError} from '../../src/errors.js'
import type {SshTarget} from '../../src/ssh/target.js'
import {captureOutput} from '../helpers/capture-output.js'
import {FakeRunner} from '../helpers/fake-runner.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const work = mkdtempSync(join(tmpdir(), 'chaos-lab-up-'))
afterAll(() => { rmSync(work, {recursive: true, force: true}) })
afterEach(() => {
  setDepsForTesting(undefined)
  process.exitCode = undefined
})

const SSH_LAB = `provider: ssh
profile: headless
ssh:
  host: 192.0.2.10
  port: 22
  user: admin
  identityFile: ./id_ed25519
`

const VAGRANT_SSH_CONFIG = `Host chaos-lab
  HostName 127.0.0.1
  User vagrant
  Port 2200
  IdentityFile ${join(work, 'vagrant-key')}
`

describe('up --provider', () => {
  it('connects to the VM Vagrant just made, not to the ssh host chaos-lab.yaml names', async () => {
    const dir = join(work, 'lab')
    rmSync(dir, {recursive: true, force: true})
    mkdirSync(dir, {recursive: true})
    writeFileSync(join(dir, 'chaos-lab.yaml'), SSH_LAB)
    const runner = new FakeRunner()
      .on('vagrant', ['up', '--provider', 'virtualbox', '--no-provision'], {stdout: 'Machine booted and ready!\n'})
      .on('vagrant', ['ssh-config', 'default'], {stdout: VAGRANT_SSH_CONFIG})
    const connectedTo: SshTarget[] = []
    setDepsForTesting({
      runner,
      connectSsh: (target) => {
        connectedTo.push(target)
        // Stop here: which machine `up` connects to is what this test is about.
        return Promise.reject(new UnreachableError('test: no SSH here', {}, 'connection_refused'))
      },
    })
    const {stderr} = await captureOutput(() => Up.run(['--dir', dir, '--provider', 'virtualbox'], ROOT))
    expect(process.exitCode, stderr).toBe(3)
    expect(runner.argsOf('vagrant')).toContainEqual(['up', '--provider', 'virtualbox', '--no-provision'])
    expect(connectedTo.map((t) => `${t.user}@${t.host}:${t.port}`)).toEqual(['vagrant@127.0.0.1:2200'])
    // The Vagrantfile was rendered for the override, and chaos-lab.yaml is left as it was.
    expect(readFileSync(join(dir, 'Vagrantfile'), 'utf8')).toContain("ENV['VAGRANT_DEFAULT_PROVIDER'] ||= 'virtualbox'")
    expect(readFileSync(join(dir, 'chaos-lab.yaml'), 'utf8')).toBe(SSH_LAB)
  })
})

describe('the confirmation flag of destructive commands', () => {
  const lab = join(work, 'vagrant-lab')
  mkdirSync(lab, {recursive: true})
  writeFileSync(join(lab, 'chaos-lab.yaml'), 'provider: libvirt\nprofile: headless\n')

  function destroyRunner(): FakeRunner {
    return new FakeRunner()
      .on('vagrant', ['destroy', '--force', 'default'], {stdout: '==> default: Removing domain...\n'})
      .on('vagrant', ['status', '--machine-readable'], {stdout: '1700000000,default,state,not_created\n'})
  }

  for (const flag of ['--yes', '-y', '--force', '-f']) {
    it(`destroy ${flag} destroys without asking`, async () => {
      const runner = destroyRunner()
      setDepsForTesting({runner, isInteractive: () => false})
      const {stderr} = await captureOutput(() => Destroy.run(['--dir', lab, flag], ROOT))
      expect(process.exitCode ?? 0, stderr).toBe(0)
      expect(runner.argsOf('vagrant')).toContainEqual(['destroy', '--force', 'default'])
    })
  }

  it('destroy without it, and without a terminal, refuses (exit 2) and runs nothing', async () => {
    const runner = destroyRunner()
    setDepsForTesting({runner, isInteractive: () => false})
    const {stderr} = await captureOutput(() => Destroy.run(['--dir', lab], ROOT))
    expect(process.exitCode).toBe(2)
    expect(stderr).toMatch(/Pass --yes/)
    expect(runner.calls).toEqual([])
  })

  it('reset takes --force as well as --yes', async () => {
    // Refused later for another reason (no snapshot on an ssh lab), but the flag itself parses.
    setDepsForTesting({runner: new FakeRunner({unmatched: 'missing'}), isInteractive: () => false})
    const {stderr} = await captureOutput(() => Reset.run(['lesson-9', '--dir', lab, '--force'], ROOT))
    expect(stderr).not.toMatch(/Nonexistent flag/)
    expect(stderr).toMatch(/no lesson "lesson-9"/)
  })
})
