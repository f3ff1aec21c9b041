/**
 * The rendered Vagrantfiles, checked by the real Vagrant: `vagrant validate` in a temporary lab folder for each
 * (virtualbox with --ignore-provider, because VirtualBox may be absent; libvirt as is, which needs the
 * vagrant-libvirt plugin). Without `vagrant` the suite is skipped, except under CI=true, where it fails.
 */
import {execFile, spawnSync} from 'node:child_process'
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {labPaths} from '../../src/config/lab-folder.js'
import {parseLabConfig} from '../../src/config/parse.js'
import {writeVagrantfile} from '../../src/render/vagrantfile.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const probe = spawnSync('vagrant', ['--version'], {encoding: 'utf8', env: {...process.env, VAGRANT_CHECKPOINT_DISABLE: '1'}})
const HAVE_VAGRANT = probe.status === 0
const IN_CI = process.env.CI === 'true'

interface Validation {
  ok: boolean
  code: number | null
  output: string
  ms: number
}

/** Runs `vagrant validate` in a lab folder with its own VAGRANT_HOME (runs can go in parallel). */
function validate(labDir: string, args: readonly string[], vagrantHome: string): Promise<Validation> {
  const started = Date.now()
  const env: NodeJS.ProcessEnv = {...process.env, VAGRANT_HOME: vagrantHome, VAGRANT_CHECKPOINT_DISABLE: '1', VAGRANT_NO_COLOR: '1'}
  delete env.VAGRANT_DEFAULT_PROVIDER
  delete env.VAGRANT_CWD
  return new Promise((done) => {
    execFile('vagrant', ['validate', ...args], {cwd: labDir, env, timeout: 120_000}, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0
      done({ok: !error, code, output: `${stdout}${stderr}`, ms: Date.now() - started})
    })
  })
}

/** Each case: the chaos-lab.yaml it is rendered from and the validate flags. */
const CASES = {
  'virtualbox (defaults: desktop)': {yaml: '', args: ['--ignore-provider']},
  'virtualbox headless': {yaml: 'profile: headless\n', args: ['--ignore-provider']},
  'libvirt, driver qemu': {yaml: 'provider: libvirt\nprofile: headless\nlibvirt:\n  driver: qemu\n', args: []},
  'libvirt desktop (SPICE, spicevmc channel)': {yaml: 'provider: libvirt\nlibvirt:\n  driver: qemu\n', args: []},
} as const

// Without Vagrant the real tests are reported skipped, with the reason in the title; under CI they run, and the
// first thing they do is fail with what to install.
const TITLE = HAVE_VAGRANT
  ? `vagrant validate (${probe.stdout.trim()})`
  : `vagrant validate (${IN_CI ? '`vagrant` is missing' : 'skipped: `vagrant` is not installed here; install Debian\'s vagrant and vagrant-libvirt to run it'})`

describe.skipIf(!HAVE_VAGRANT && !IN_CI)(TITLE, () => {
  const work = mkdtempSync(join(tmpdir(), 'chaos-lab-validate-'))
  const results = new Map<string, Validation>()
  let wallMs = 0

  beforeAll(async () => {
    if (!HAVE_VAGRANT) throw new Error(`CI=true but \`vagrant\` could not run (${probe.error?.message ?? probe.stderr}): install Debian's vagrant and vagrant-libvirt packages (.ci/run does).`)
    const jobs: [string, Promise<Validation>][] = []
    let n = 0
    const folder = (name: string) => {
      const dir = join(work, `${++n}-${name.replace(/[^a-z0-9]+/gi, '-')}`)
      mkdirSync(dir, {recursive: true})
      return dir
    }
    for (const [name, {yaml, args}] of Object.entries(CASES)) {
      const dir = folder(name)
      writeVagrantfile(labPaths(dir), parseLabConfig(yaml, 'chaos-lab.yaml'))
      jobs.push([name, validate(dir, args, join(dir, '.vagrant-home'))])
    }
    // The repository's own Vagrantfile, as it is, next to a link to the provisioning folder it names.
    const repo = folder('repository Vagrantfile')
    copyFileSync(join(ROOT, 'Vagrantfile'), join(repo, 'Vagrantfile'))
    symlinkSync(join(ROOT, 'provisioning'), join(repo, 'provisioning'))
    jobs.push(['repository Vagrantfile', validate(repo, ['--ignore-provider'], join(repo, '.vagrant-home'))])
    // A negative control: Vagrant must reject a libvirt Vagrantfile with a bad provider option and a missing
    // provisioning folder (so these checks can fail, and the libvirt block is really validated).
    const broken = folder('broken')
    writeVagrantfile(labPaths(broken), parseLabConfig(CASES['libvirt, driver qemu'].yaml, 'chaos-lab.yaml'))
    const text = readFileSync(join(broken, 'Vagrantfile'), 'utf8')
      .replace(/^provisioning_dir = .*$/m, "provisioning_dir = File.expand_path('missing', __dir__)")
      .replace(/^(\s*)libvirt\.driver = .*$/m, "$&\n$1libvirt.qemu_use_agent = 'yes'")
    writeFileSync(join(broken, 'Vagrantfile'), text)
    jobs.push(['broken', validate(broken, [], join(broken, '.vagrant-home'))])

    const started = Date.now()
    for (const [name, result] of await Promise.all(jobs.map(async ([name, job]) => [name, await job] as const))) results.set(name, result)
    wallMs = Date.now() - started
    const each = [...results].map(([name, r]) => `${name} ${(r.ms / 1000).toFixed(1)} s`).join(', ')
    process.stderr.write(`vagrant validate: ${results.size} runs in parallel took ${(wallMs / 1000).toFixed(1)} s (${each})\n`)
  }, 240_000)

  afterAll(() => { rmSync(work, {recursive: true, force: true}) })

  it.each(Object.keys(CASES))('%s validates', (name) => {
    const result = results.get(name)
    expect(result, name).toBeDefined()
    expect(result?.output).toMatch(/Vagrantfile validated successfully/)
    expect(result?.ok, result?.output).toBe(true)
  })

  it('the repository\'s Vagrantfile validates from its own folder', () => {
    const result = results.get('repository Vagrantfile')
    expect(result?.ok, result?.output).toBe(true)
  })

  it('Vagrant does reject a broken one (the check can fail)', () => {
    const result = results.get('broken')
    expect(result?.ok).toBe(false)
    expect(result?.output).toMatch(/File upload source file .*missing must exist/)
    expect(result?.output).toMatch(/libvirt\.qemu_use_agent must be a boolean/)
  })
})
