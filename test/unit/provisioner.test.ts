import {cpSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {loadBundle} from '../../src/provision/bundle.js'
import {NoSudoError, ProvisionLog, Provisioner, StepFailedError, parseState} from '../../src/provision/provisioner.js'
import {FakeSession} from '../helpers/fake-session.js'

const fixture = join(import.meta.dirname, '..', 'fixtures', 'provisioning')

/** A VM whose state file lives in this closure: writes through `sudo … cat > state.json.tmp` land here. */
function fakeVm(options: {sudo?: boolean; failStep?: string} = {}) {
  let state = ''
  const session = new FakeSession([
    [/^sudo -n true$/, {code: options.sudo === false ? 1 : 0, stderr: options.sudo === false ? 'sudo: a password is required' : ''}],
    [/^sudo -n cat \/var\/lib\/chaos-lab\/state\.json/, () => ({stdout: state})],
    [/state\.json\.tmp/, (_command, execOptions) => { state = String(execOptions.stdin); return {} }],
    [/steps\/(\w+)\.sh$/, (command) => {
      const step = /steps\/(\w+)\.sh$/.exec(command)![1]!
      return step === options.failStep ? {code: 100, stdout: `working on ${step}\nE: Unable to locate package nope`} : {stdout: `${step} ok`}
    }],
  ])
  return {session, state: () => parseState(state)}
}

async function provisionAll(provisioner: Provisioner) {
  const pending = await provisioner.prepare()
  await provisioner.upload()
  for (const step of pending) await provisioner.runStep(step, () => {})
  return pending.map((step) => step.name)
}

describe('Provisioner', () => {
  const log = new ProvisionLog(undefined)

  it('runs every step the first time, stamps each, and a rerun skips them all without uploading', async () => {
    const vm = fakeVm()
    const bundle = loadBundle('headless', fixture)
    expect(await provisionAll(new Provisioner(vm.session, bundle, {profile: 'headless', force: false, log}))).toEqual(['base', 'chapter2'])
    expect(vm.session.uploads).toHaveLength(1)
    expect(vm.session.commands.some((c) => c.includes("CHAOS_LAB_PROFILE=headless") && c.includes('CHAOS_LAB_LOGIN_USER=admin'))).toBe(true)
    expect(Object.keys(vm.state().steps)).toEqual(['base', 'chapter2'])

    const before = vm.session.commands.length
    expect(await provisionAll(new Provisioner(vm.session, bundle, {profile: 'headless', force: false, log}))).toEqual([])
    expect(vm.session.uploads).toHaveLength(1)
    // The no-op rerun costs two commands: the sudo check and reading the stamps.
    expect(vm.session.commands.length - before).toBe(2)
  })

  it('reruns only the step whose own files changed, and all steps when the shared library changed', async () => {
    const root = mkdtempSync(join(tmpdir(), 'chaos-lab-bundle-'))
    cpSync(fixture, root, {recursive: true})
    const vm = fakeVm()
    await provisionAll(new Provisioner(vm.session, loadBundle('headless', root), {profile: 'headless', force: false, log}))
    writeFileSync(join(root, 'files/chapter2/mystery000.c'), 'int main(void) { return 1; }\n')
    expect(await provisionAll(new Provisioner(vm.session, loadBundle('headless', root), {profile: 'headless', force: false, log}))).toEqual(['chapter2'])
    // A folder the step declares with `# inputs:` counts as its own.
    writeFileSync(join(root, 'files/shared-data/x.txt'), 'changed\n')
    expect(await provisionAll(new Provisioner(vm.session, loadBundle('headless', root), {profile: 'headless', force: false, log}))).toEqual(['chapter2'])
    writeFileSync(join(root, 'lib/common.sh'), 'say() { printf "%s\\n" "$*"; }\n')
    expect(await provisionAll(new Provisioner(vm.session, loadBundle('headless', root), {profile: 'headless', force: false, log}))).toEqual(['base', 'chapter2'])
    // Another profile is another input.
    expect(await provisionAll(new Provisioner(vm.session, loadBundle('desktop', root), {profile: 'desktop', force: false, log}))).toEqual(['base', 'chapter2'])
  })

  it('aptProxy reaches every step as CHAOS_LAB_APT_PROXY; a change reruns only the steps that declare it (# settings:)', async () => {
    const vm = fakeVm()
    const plain = loadBundle('headless', fixture, {CHAOS_LAB_APT_PROXY: ''})
    // No proxy: the same hashes as before the setting existed, so stamps of earlier versions stay valid.
    expect(loadBundle('headless', fixture).steps).toEqual(plain.steps)
    await provisionAll(new Provisioner(vm.session, plain, {profile: 'headless', force: false, log}))
    const proxied = loadBundle('headless', fixture, {CHAOS_LAB_APT_PROXY: 'http://192.0.2.10:3142'})
    expect(proxied.hash).toBe(plain.hash)
    const before = vm.session.commands.length
    expect(await provisionAll(new Provisioner(vm.session, proxied, {profile: 'headless', force: false, log}))).toEqual(['base'])
    expect(vm.session.uploads).toHaveLength(1)
    const stepRun = vm.session.commands.slice(before).find((command) => command.includes('steps/base.sh'))
    expect(stepRun).toContain('CHAOS_LAB_APT_PROXY=http://192.0.2.10:3142')
    // Unset again: base reruns (and removes the apt setting), chapter2 never did.
    expect(await provisionAll(new Provisioner(vm.session, plain, {profile: 'headless', force: false, log}))).toEqual(['base'])
    expect(vm.session.commands.at(-2)).toContain("CHAOS_LAB_APT_PROXY=''")
  })

  it('--force reruns everything and uploads again', async () => {
    const vm = fakeVm()
    const bundle = loadBundle('headless', fixture)
    await provisionAll(new Provisioner(vm.session, bundle, {profile: 'headless', force: false, log}))
    expect(await provisionAll(new Provisioner(vm.session, bundle, {profile: 'headless', force: true, log}))).toEqual(['base', 'chapter2'])
    expect(vm.session.uploads).toHaveLength(2)
  })

  it('a failed step keeps the earlier stamps, reports the last lines, and the rerun starts at the failed step', async () => {
    const failing = fakeVm({failStep: 'chapter2'})
    const bundle = loadBundle('headless', fixture)
    const error = await provisionAll(new Provisioner(failing.session, bundle, {profile: 'headless', force: false, log})).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StepFailedError)
    expect((error as StepFailedError).exitCode).toBe(3)
    expect((error as StepFailedError).output.join('\n')).toContain('Unable to locate package nope')
    expect((error as StepFailedError).fullMessage()).toContain('Its last lines:\n')
    expect(Object.keys(failing.state().steps)).toEqual(['base'])
  })

  it('a step cut off while running is redone by the next plain run (its stamp is removed before it starts)', async () => {
    const vm = fakeVm()
    const bundle = loadBundle('headless', fixture)
    await provisionAll(new Provisioner(vm.session, bundle, {profile: 'headless', force: false, log}))
    const cut = fakeVm({failStep: 'chapter2'})
    // The same VM state, then a forced run that dies inside chapter2 (as when the connection drops).
    await cut.session.exec('sudo -n sh -c state.json.tmp', {stdin: JSON.stringify(vm.state())})
    await provisionAll(new Provisioner(cut.session, bundle, {profile: 'headless', force: true, log})).catch(() => undefined)
    expect(Object.keys(cut.state().steps)).toEqual(['base'])
  })

  it('refuses a login without passwordless sudo with exit 3 and the sudoers line to add', async () => {
    const vm = fakeVm({sudo: false})
    const error = await new Provisioner(vm.session, loadBundle('headless', fixture), {profile: 'headless', force: false, log}).prepare().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NoSudoError)
    expect((error as NoSudoError).suggestion).toContain('NOPASSWD')
  })

  it('treats a damaged state file as nothing done', () => {
    expect(parseState('{not json')).toEqual({version: 1, steps: {}})
    expect(parseState('')).toEqual({version: 1, steps: {}})
  })
})
