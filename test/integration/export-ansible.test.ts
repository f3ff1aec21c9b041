/**
 * `chaos-lab export ansible DIR` in-process, and the role's module run for real by Python with Ansible's own
 * module library (ansible-core) against a scratch root: the stamps it writes are the ones chaos-lab reads.
 * Bad input (a folder that is not empty, a proxy URL that is not http(s)): exit 2, one paragraph, nothing written.
 */
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import ExportAnsible from '../../src/commands/export/ansible.js'
import {CHAPTERS} from '../../src/config/schema.js'
import Provision from '../../src/commands/provision.js'
import {ansibleManifest} from '../../src/provision/ansible.js'
import {bundleTar, loadBundle} from '../../src/provision/bundle.js'
import {parseState, stampedChapters} from '../../src/provision/provisioner.js'
import {bundleFor} from '../../src/provision/tasks.js'
import {captureOutput} from '../helpers/capture-output.js'
import {toolMissing} from '../helpers/golden.js'

const ROOT = join(import.meta.dirname, '..', '..')
const fixture = join(import.meta.dirname, '..', 'fixtures', 'provisioning')
const scratch = mkdtempSync(join(tmpdir(), 'chaos-lab-export-'))
afterAll(() => {
  rmSync(scratch, {recursive: true, force: true})
})

/** Runs the command in-process; returns its exit code, output, and parsed JSON when --json. */
async function run(command: {run: (argv: string[], root: string) => Promise<unknown>}, argv: string[]) {
  process.exitCode = undefined
  const {stdout, stderr} = await captureOutput(() => command.run(argv, ROOT))
  const code = process.exitCode ?? 0
  process.exitCode = undefined
  let json: any
  try { json = JSON.parse(stdout) } catch { json = undefined }
  return {code, stdout, stderr, json}
}

function lab(name: string, yaml: string): string {
  const dir = join(scratch, name)
  mkdirSync(dir, {recursive: true})
  writeFileSync(join(dir, 'chaos-lab.yaml'), yaml)
  return dir
}

function tree(dir: string): string[] {
  return readdirSync(dir, {recursive: true, encoding: 'utf8'}).sort()
}

describe('export ansible: the files', () => {
  it('a playbook and a role that ship chaos-lab\'s own bundle, with its step hashes and the lab\'s aptProxy', async () => {
    const out = join(scratch, 'out')
    const labDir = lab('lab-proxy', 'provider: ssh\nssh: {host: 192.0.2.1, user: admin, identityFile: key}\naptProxy: http://192.0.2.10:3142\n')
    const result = await run(ExportAnsible, [out, '--dir', labDir, '--json'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.json.files).toEqual([
      'playbook.yml', 'README.md', 'roles/chaos_lab/tasks/main.yml', 'roles/chaos_lab/files/manifest.json',
      'roles/chaos_lab/files/bundle.tar', 'roles/chaos_lab/library/chaos_lab_provision.py',
    ])
    const bundle = bundleFor({profile: 'headless', aptProxy: 'http://192.0.2.10:3142'})
    const manifest = JSON.parse(readFileSync(join(out, 'roles/chaos_lab/files/manifest.json'), 'utf8'))
    // The stamps Ansible writes are the ones chaos-lab computes for the same profile and settings.
    expect(manifest.steps).toEqual(bundle.steps.map(({name, script, hash}) => ({name, script, hash})))
    expect(manifest.bundle).toBe(bundle.hash)
    expect(manifest.env).toMatchObject({CHAOS_LAB_PROFILE: 'headless', CHAOS_LAB_USER: 'chaos', CHAOS_LAB_APT_PROXY: 'http://192.0.2.10:3142'})
    expect(manifest).toMatchObject({stateFile: '/var/lib/chaos-lab/state.json', bundleDir: '/var/lib/chaos-lab/provisioning'})
    expect(readFileSync(join(out, 'roles/chaos_lab/files/bundle.tar')).equals(bundleTar(bundle))).toBe(true)
    expect(statSync(join(out, 'roles/chaos_lab/library/chaos_lab_provision.py')).mode & 0o111).not.toBe(0)
    // No step's work is written out as Ansible tasks: the tasks copy the bundle and call the module.
    const tasks = readFileSync(join(out, 'roles/chaos_lab/tasks/main.yml'), 'utf8')
    expect([...tasks.matchAll(/^ {2}([a-z_.]+):$/gm)].map((m) => m[1])).toEqual(['ansible.builtin.file', 'ansible.builtin.copy', 'ansible.builtin.copy', 'chaos_lab_provision'])
    expect(readFileSync(join(out, 'playbook.yml'), 'utf8')).toMatch(/hosts: all\n {2}become: true\n/)
  })

  it('--profile desktop gives the desktop hashes; without a lab folder there is no proxy', async () => {
    const out = join(scratch, 'out-desktop')
    const result = await run(ExportAnsible, [out, '--profile', 'desktop', '--dir', join(scratch, 'no-lab-here'), '--json'])
    expect(result.code, result.stderr).toBe(0)
    const manifest = JSON.parse(readFileSync(join(out, 'roles/chaos_lab/files/manifest.json'), 'utf8'))
    expect(manifest.steps.map((step: {hash: string}) => step.hash)).toEqual(bundleFor({profile: 'desktop'}).steps.map((step) => step.hash))
    expect(manifest.env).toMatchObject({CHAOS_LAB_PROFILE: 'desktop', CHAOS_LAB_APT_PROXY: ''})
  })
})

describe('export ansible: the playbook provisions exactly the lab\'s chapters', () => {
  const names = (steps: Array<{name: string}>) => steps.map((step) => step.name)
  const manifestOf = (out: string) => JSON.parse(readFileSync(join(out, 'roles/chaos_lab/files/manifest.json'), 'utf8')) as {chapters: number[]; bundle: string; steps: Array<{name: string; script: string; hash: string}>}
  const all = bundleFor({profile: 'headless'})

  it('chapters: [2] in chaos-lab.yaml: the manifest has no chapter 3 or 4 step, and says so', async () => {
    const out = join(scratch, 'out-ch2')
    const labDir = lab('lab-ch2', 'provider: ssh\nssh: {host: 192.0.2.1, user: admin, identityFile: key}\nchapters: [2]\n')
    const result = await run(ExportAnsible, [out, '--dir', labDir, '--json'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.json.chapters).toEqual([2])
    expect(names(result.json.steps)).toEqual(['base', 'desktop', 'chapter2'])
    const manifest = manifestOf(out)
    expect(manifest.chapters).toEqual([2])
    // The same hashes chaos-lab stamps for those steps; the bundle is the whole one chaos-lab uploads.
    expect(manifest.steps).toEqual(all.steps.filter((step) => step.chapter === undefined || step.chapter === 2).map(({name, script, hash}) => ({name, script, hash})))
    expect(manifest.bundle).toBe(all.hash)
    expect(readFileSync(join(out, 'roles/chaos_lab/tasks/main.yml'), 'utf8')).toMatch(/^- name: Run the steps whose inputs changed \(base, desktop, chapter2\)$/m)
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toMatch(/the book's chapters\n2 \(the steps base, desktop, chapter2\)/)
    expect(readFileSync(join(out, 'playbook.yml'), 'utf8')).toMatch(/the book's chapters 2,/)
  })

  it('without a lab folder: every chapter (the book\'s VM); --chapters adds to the lab\'s, or is the list without one', async () => {
    const every = await run(ExportAnsible, [join(scratch, 'out-all'), '--dir', join(scratch, 'no-lab-here'), '--json'])
    expect(every.json.chapters).toEqual([...CHAPTERS])
    expect(names(every.json.steps)).toEqual(names(all.steps))
    expect(names(every.json.steps)).toContain('chapter3')
    const added = await run(ExportAnsible, [join(scratch, 'out-ch2-3'), '--dir', join(scratch, 'lab-ch2'), '--chapters', '3', '--json'])
    expect(added.json.chapters).toEqual([2, 3])
    expect(names(manifestOf(join(scratch, 'out-ch2-3')).steps)).toEqual(['base', 'desktop', 'chapter2', 'chapter3'])
    const only3 = await run(ExportAnsible, [join(scratch, 'out-ch3'), '--dir', join(scratch, 'no-lab-here'), '--chapters', '3', '--json'])
    expect(only3.json.chapters).toEqual([3])
    expect(names(manifestOf(join(scratch, 'out-ch3')).steps)).toEqual(['base', 'desktop', 'chapter3'])
  })

  it('an unknown chapter, in chaos-lab.yaml or --chapters: exit 2 listing the known ones, nothing written', async () => {
    const out = join(scratch, 'never-ch9')
    const flag = await run(ExportAnsible, [out, '--dir', join(scratch, 'no-lab-here'), '--chapters', '9', '--json'])
    expect(flag.code).toBe(2)
    expect(flag.json.error).toMatchObject({code: 'unknown_chapter', exitCode: 2})
    expect(flag.json.error.suggestion).toMatch(new RegExp(`Known chapters: ${CHAPTERS.join(', ')}`))
    const labDir = lab('lab-ch9', 'provider: ssh\nssh: {host: 192.0.2.1, user: admin, identityFile: key}\nchapters: [2, 9]\n')
    const config = await run(ExportAnsible, [out, '--dir', labDir, '--json'])
    expect(config.code).toBe(2)
    expect(config.json.error).toMatchObject({code: 'config_invalid', exitCode: 2})
    expect(() => statSync(out)).toThrow()
  })
})

describe('export ansible: bad input is refused with exit 2 and nothing written', () => {
  it('a folder that is not empty, without --force', async () => {
    const out = join(scratch, 'busy')
    mkdirSync(out)
    writeFileSync(join(out, 'notes.txt'), 'mine\n')
    const result = await run(ExportAnsible, [out, '--dir', join(scratch, 'no-lab-here')])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/^Error: .*busy is not empty \(it holds notes\.txt\), so nothing was written.*\nName a new or empty folder, or pass --force/)
    expect(result.stderr.trim().split('\n')).toHaveLength(2)
    expect(result.stderr).not.toMatch(/\n\s+at /)
    expect(tree(out)).toEqual(['notes.txt'])
    const json = await run(ExportAnsible, [out, '--dir', join(scratch, 'no-lab-here'), '--json'])
    expect(json.code).toBe(2)
    expect(json.json.error).toMatchObject({code: 'export_folder_not_empty', exitCode: 2})
    // --force writes the export beside what is there, and keeps it.
    const forced = await run(ExportAnsible, [out, '--force', '--dir', join(scratch, 'no-lab-here')])
    expect(forced.code, forced.stderr).toBe(0)
    expect(tree(out)).toContain('playbook.yml')
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine\n')
  })

  it('a file where the folder should be', async () => {
    const file = join(scratch, 'a-file')
    writeFileSync(file, 'x')
    const result = await run(ExportAnsible, [file, '--dir', join(scratch, 'no-lab-here')])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/exists and is not a folder/)
    expect(readFileSync(file, 'utf8')).toBe('x')
  })

  it.each([
    ['ftp://192.0.2.10:3142'],
    ['socks5://192.0.2.10:1080'],
    ['192.0.2.10:3142'],
  ])('aptProxy %s: export and provision both refuse it before anything is written', async (proxy) => {
    const labDir = lab(`bad-proxy-${proxy.replace(/\W/g, '-')}`, `provider: ssh\nssh: {host: 192.0.2.1, user: admin, identityFile: key}\naptProxy: ${proxy}\n`)
    const before = tree(labDir)
    const out = join(scratch, `never-${proxy.replace(/\W/g, '-')}`)
    const exported = await run(ExportAnsible, [out, '--dir', labDir])
    expect(exported.code).toBe(2)
    expect(exported.stderr).toMatch(/^Error: .*chaos-lab\.yaml is not valid: line 3: aptProxy must be an http:\/\/ or https:\/\/ URL .*\nFix .*chaos-lab\.yaml/)
    expect(exported.stderr.trim().split('\n')).toHaveLength(2)
    expect(() => statSync(out)).toThrow()
    const provisioned = await run(Provision, ['--dir', labDir, '--json'])
    expect(provisioned.code).toBe(2)
    expect(provisioned.json.error).toMatchObject({code: 'config_invalid', exitCode: 2})
    // Not even a log file: the config is refused before any connection.
    expect(tree(labDir)).toEqual(before)
  })
})

/** The Python that runs Ansible (ansible-playbook's #! line): the one with ansible-core's module library. */
function ansiblePython(): string {
  const where = spawnSync('sh', ['-c', 'command -v ansible-playbook'], {encoding: 'utf8'}).stdout.trim()
  if (!where) return 'python3'
  return /^#!\s*(\S+)/.exec(readFileSync(where, 'utf8').split('\n')[0] ?? '')?.[1] ?? 'python3'
}
const PYTHON = ansiblePython()
const haveAnsible = spawnSync(PYTHON, ['-c', 'import ansible.module_utils.basic']).status === 0 && spawnSync('sh', ['-c', 'command -v flock']).status === 0
if (!haveAnsible) toolMissing('ansible-core (python3 -c "import ansible.module_utils.basic") and flock')

describe.skipIf(!haveAnsible)('the role\'s module, run by Python with ansible-core against a scratch root', () => {
  const root = join(scratch, 'host', 'var-lib-chaos-lab')
  const module = join(ROOT, 'templates', 'ansible', 'chaos_lab_provision.py')

  function runModule(bundle: ReturnType<typeof loadBundle>, chapters: number[] = [2]) {
    const manifest = {...ansibleManifest(bundle, 'headless', 'test', chapters), root, bundleDir: join(root, 'provisioning'), stateFile: join(root, 'state.json'), logFile: join(scratch, 'host', 'log', 'ansible.log')}
    const tar = join(scratch, 'host', 'bundle.tar')
    mkdirSync(join(scratch, 'host'), {recursive: true})
    writeFileSync(tar, bundleTar(bundle))
    writeFileSync(join(scratch, 'host', 'manifest.json'), JSON.stringify(manifest))
    const args = join(scratch, 'host', 'args.json')
    writeFileSync(args, JSON.stringify({ANSIBLE_MODULE_ARGS: {bundle: tar, manifest: join(scratch, 'host', 'manifest.json'), login_user: 'admin'}}))
    const result = spawnSync(PYTHON, [module, args], {encoding: 'utf8', timeout: 60_000})
    return {status: result.status, stderr: result.stderr, out: JSON.parse(result.stdout) as {changed: boolean; ran: string[]; failed?: boolean; msg?: string; last_lines?: string[]}}
  }

  it('runs the steps whose stamps differ, stamps them as chaos-lab does, and a rerun changes nothing', () => {
    const bundle = loadBundle('headless', fixture, {CHAOS_LAB_APT_PROXY: ''})
    const first = runModule(bundle)
    expect(first.out, first.stderr).toMatchObject({changed: true, ran: ['base', 'chapter2']})
    const state = parseState(readFileSync(join(root, 'state.json'), 'utf8'))
    expect(state.bundle).toBe(bundle.hash)
    expect(Object.fromEntries(Object.entries(state.steps).map(([name, stamp]) => [name, stamp.hash]))).toEqual(Object.fromEntries(bundle.steps.map((step) => [step.name, step.hash])))
    expect(Object.values(state.steps).every((stamp) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(stamp.finishedAt))).toBe(true)
    expect(readFileSync(join(root, 'provisioning', 'steps', 'ORDER'), 'utf8')).toBe(readFileSync(join(fixture, 'steps', 'ORDER'), 'utf8'))
    const log = readFileSync(join(scratch, 'host', 'log', 'ansible.log'), 'utf8')
    expect(log).toMatch(/\[base\] --- start .*\nbase\n/)
    expect(runModule(bundle).out).toMatchObject({changed: false, ran: []})
    // A changed setting reruns only the step that declares it, as chaos-lab would.
    expect(runModule(loadBundle('headless', fixture, {CHAOS_LAB_APT_PROXY: 'http://192.0.2.10:3142'})).out).toMatchObject({changed: true, ran: ['base']})
  })

  it('runs only the chapters of its manifest, and records them in the state file as chaos-lab does', () => {
    const withChapter3 = mkdtempSync(join(scratch, 'ch3-'))
    rmSync(withChapter3, {recursive: true})
    spawnSync('cp', ['-r', fixture, withChapter3])
    writeFileSync(join(withChapter3, 'steps', 'ORDER'), 'base\nchapter2\nchapter3\n')
    writeFileSync(join(withChapter3, 'steps', 'chapter3.sh'), '#!/bin/bash\necho chapter3\n')
    const bundle = loadBundle('headless', withChapter3, {CHAOS_LAB_APT_PROXY: ''})
    rmSync(root, {recursive: true, force: true})
    expect(runModule(bundle, [2]).out).toMatchObject({changed: true, ran: ['base', 'chapter2']})
    const state = () => parseState(readFileSync(join(root, 'state.json'), 'utf8'))
    expect(state().chapters).toEqual([2])
    expect(Object.keys(state().steps)).toEqual(['base', 'chapter2'])
    // A playbook of chapters 2 and 3 adds chapter 3 only; the lab's chapters are both.
    expect(runModule(bundle, [2, 3]).out).toMatchObject({changed: true, ran: ['chapter3']})
    expect(state().chapters).toEqual([2, 3])
    // Back to a chapter-2 playbook: nothing to do, and the machine keeps its chapter 3 (chaos-lab keeps it up to date).
    expect(runModule(bundle, [2]).out).toMatchObject({changed: false, ran: []})
    expect(stampedChapters(state())).toEqual([2, 3])
  })

  it('a failing step fails the task with its last lines and keeps the stamps before it', () => {
    const broken = mkdtempSync(join(scratch, 'broken-'))
    rmSync(broken, {recursive: true})
    spawnSync('cp', ['-r', fixture, broken])
    writeFileSync(join(broken, 'steps', 'chapter2.sh'), '#!/bin/bash\necho "E: Unable to locate package nope"\nexit 100\n')
    rmSync(root, {recursive: true, force: true})
    const result = runModule(loadBundle('headless', broken, {CHAOS_LAB_APT_PROXY: ''}))
    expect(result.status).not.toBe(0)
    expect(result.out.failed).toBe(true)
    expect(result.out.msg).toMatch(/Provisioning step "chapter2" failed \(it exited with 100\)/)
    expect(result.out.last_lines).toContain('E: Unable to locate package nope')
    expect(Object.keys(parseState(readFileSync(join(root, 'state.json'), 'utf8')).steps)).toEqual(['base'])
  })
})
