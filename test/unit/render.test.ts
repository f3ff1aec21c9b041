import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {afterAll, describe, expect, it} from 'vitest'

import {defaultLabConfig} from '../../src/config/init-yaml.js'
import {labPaths} from '../../src/config/lab-folder.js'
import {parseLabConfig} from '../../src/config/parse.js'
import type {LabConfig} from '../../src/config/schema.js'
import {ChaosLabError} from '../../src/errors.js'
import {compileTemplate, parseTemplate, renderTemplate, rubyString, templatePath} from '../../src/render/engine.js'
import {
  isGeneratedVagrantfile, provisioningDirFor, renderVagrantfile, vagrantfileView, writeVagrantfile,
} from '../../src/render/vagrantfile.js'
import {updateGolden} from '../helpers/golden.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const GOLDEN = join(ROOT, 'test', 'golden')

/** Compares with a file; UPDATE_GOLDEN=1 rewrites the file instead. */
function expectFile(file: string, actual: string): void {
  if (updateGolden()) {
    mkdirSync(dirname(file), {recursive: true})
    writeFileSync(file, actual)
  }
  expect(existsSync(file), `${file} exists (create it with UPDATE_GOLDEN=1)`).toBe(true)
  expect(actual, `${file} is out of date: regenerate with UPDATE_GOLDEN=1 npx vitest run test/unit/render.test.ts and review the diff`).toBe(readFileSync(file, 'utf8'))
}

const config = (text: string): LabConfig => parseLabConfig(text, 'chaos-lab.yaml')

/** The rendered Vagrantfiles kept as golden files, one per provider; headless shows what the profile changes. */
const GOLDEN_CASES = {
  'Vagrantfile.virtualbox': {yaml: '', note: 'defaults: VirtualBox, profile desktop'},
  'Vagrantfile.virtualbox-headless': {yaml: 'profile: headless\n', note: 'VirtualBox, profile headless'},
  'Vagrantfile.libvirt': {yaml: 'provider: libvirt\nprofile: headless\nlibvirt:\n  driver: qemu\n', note: 'libvirt with driver qemu (no KVM)'},
  'Vagrantfile.libvirt-desktop': {yaml: 'provider: libvirt\nlibvirt:\n  driver: qemu\n', note: 'libvirt, profile desktop: SPICE with the spicevmc channel'},
} as const

const ruby = spawnSync('ruby', ['--version'], {encoding: 'utf8'})
const HAVE_RUBY = ruby.status === 0
if (!HAVE_RUBY && process.env.CI === 'true') throw new Error('ruby is not installed, but CI=true: the injection tests need it (Debian\'s vagrant package depends on ruby).')

function runRuby(program: string, args: string[] = []): string {
  const env = {...process.env}
  delete env.VAGRANT_DEFAULT_PROVIDER
  const result = spawnSync('ruby', ['-', ...args], {input: program, encoding: 'utf8', env})
  if (result.status !== 0) throw new Error(`ruby failed (${result.status}): ${result.stderr}`)
  return result.stdout
}

describe('golden Vagrantfiles', () => {
  it.each(Object.entries(GOLDEN_CASES))('%s (%s)', (name, {yaml}) => {
    expectFile(join(GOLDEN, name), renderVagrantfile(config(yaml), {provisioningDir: 'provisioning'}))
  })

  it('the repository\'s Vagrantfile is the rendered default (fails when it drifts from the template)', () => {
    expectFile(join(ROOT, 'Vagrantfile'), renderVagrantfile(defaultLabConfig(), {provisioningDir: 'provisioning', source: 'defaults'}))
  })

  it('libvirt desktop: SPICE graphics and the spicevmc channel for spice-vdagent; headless has neither', () => {
    const desktop = renderVagrantfile(config('provider: libvirt'), {provisioningDir: 'provisioning'})
    expect(desktop).toContain(`libvirt.graphics_type = 'spice'`)
    expect(desktop).toContain(`libvirt.channel type: 'spicevmc', target_name: 'com.redhat.spice.0', target_type: 'virtio'`)
    const headless = renderVagrantfile(config('provider: libvirt\nprofile: headless'), {provisioningDir: 'provisioning'})
    expect(headless).not.toMatch(/spice/)
  })

  it('desktop and headless differ only in the GUI, SPICE for libvirt and the profile passed to provisioning', () => {
    const desktop = renderVagrantfile(config(''), {provisioningDir: 'provisioning'}).split('\n').filter((line) => !/spice|SPICE|graphics_ip|video_type/.test(line))
    const headless = renderVagrantfile(config('profile: headless'), {provisioningDir: 'provisioning'}).split('\n')
    expect(headless).toHaveLength(desktop.length)
    const changed = desktop.flatMap((line, i) => (line === headless[i] ? [] : [[line.trim(), headless[i]?.trim()]]))
    expect(changed).toEqual([
      ['vb.gui = true', 'vb.gui = false'],
      [`env: {'CHAOS_LAB_PROFILE' => 'desktop', 'CHAOS_LAB_LOGIN_USER' => 'vagrant', 'CHAOS_LAB_APT_PROXY' => '' },`, `env: {'CHAOS_LAB_PROFILE' => 'headless', 'CHAOS_LAB_LOGIN_USER' => 'vagrant', 'CHAOS_LAB_APT_PROXY' => '' },`],
    ])
  })
})

describe('the Vagrantfile', () => {
  const rendered = renderVagrantfile(config(''), {provisioningDir: 'provisioning'})

  it('carries the book\'s VirtualBox settings and both provider blocks', () => {
    expect(rendered).toContain(`vb.customize ['modifyvm', :id, '--vram', '64', '--clipboard-mode', 'bidirectional', '--vrde', 'off', '--graphicscontroller', 'vmsvga']`)
    expect(rendered).toMatch(/vb\.memory = 4096\n\s+vb\.cpus = 2\n/)
    expect(rendered).toContain(`config.vm.provider 'virtualbox' do |vb, override|`)
    expect(rendered).toContain(`config.vm.provider 'libvirt' do |libvirt, override|`)
    expect(rendered).toContain(`libvirt.driver = 'kvm'`)
    expect(rendered).not.toMatch(/--clipboard'/)
  })

  it('forwards the FizzBuzz port on 127.0.0.1 only and shares no folder', () => {
    expect(rendered).toContain(`config.vm.network 'forwarded_port', id: 'fizzbuzz', guest: 8003, host: 8003, host_ip: '127.0.0.1'`)
    expect(renderVagrantfile(config('forwardedPort: 18003'), {provisioningDir: 'p'})).toContain('guest: 8003, host: 18003, host_ip: \'127.0.0.1\'')
    expect(rendered).toContain(`config.vm.synced_folder '.', '/vagrant', disabled: true`)
  })

  it('provisions a plain `vagrant up` with the provisioning folder and run-all.sh', () => {
    expect(rendered).toContain(`provisioning_dir = File.expand_path('provisioning', __dir__)`)
    expect(rendered).toContain(`type: 'file', source: provisioning_dir, destination: '/tmp/chaos-lab-provisioning'`)
    expect(rendered).toContain('mv /tmp/chaos-lab-provisioning /var/lib/chaos-lab/provisioning')
    expect(rendered).toContain('exec bash /var/lib/chaos-lab/provisioning/run-all.sh')
    expect(rendered).toContain(`'CHAOS_LAB_PROFILE' => 'desktop', 'CHAOS_LAB_LOGIN_USER' => 'vagrant'`)
  })

  it('the header says chaos-lab generated it, and from which config', () => {
    expect(rendered).toMatch(/^# -\*- mode: ruby -\*-\n# vi: set ft=ruby :\n#\n# Generated by chaos-lab from chaos-lab\.yaml in this folder/)
    expect(renderVagrantfile(config(''), {provisioningDir: 'p', source: 'defaults'})).toMatch(/# Generated by chaos-lab from its built-in defaults/)
    expect(isGeneratedVagrantfile(rendered)).toBe(true)
    expect(isGeneratedVagrantfile('Vagrant.configure("2") do |config|\nend\n')).toBe(false)
  })

  it('a box left at its default follows the provider; a chosen box is used by both', () => {
    const libvirt = vagrantfileView(config('provider: libvirt'), {provisioningDir: 'p'})
    expect([libvirt.box, libvirt.virtualbox.box, libvirt.libvirt.box]).toEqual(['generic/ubuntu2204', 'bento/ubuntu-24.04', 'generic/ubuntu2204'])
    const chosen = vagrantfileView(config('box: ubuntu/jammy64'), {provisioningDir: 'p'})
    expect([chosen.box, chosen.virtualbox.box, chosen.libvirt.box]).toEqual(['ubuntu/jammy64', 'ubuntu/jammy64', 'ubuntu/jammy64'])
  })

  it('libvirt: memory and CPUs of the libvirt section win; driver qemu gets more boot time and nothing KVM needs', () => {
    const text = renderVagrantfile(config('provider: libvirt\nlibvirt:\n  driver: qemu\n  memory: 2048\n  cpus: 1\n  uri: qemu:///session\n'), {provisioningDir: 'p'})
    expect(text).toMatch(/libvirt\.driver = 'qemu'\n\s+libvirt\.memory = 2048\n\s+libvirt\.cpus = 1\n\s+libvirt\.uri = 'qemu:\/\/\/session'/)
    expect(text).toContain('override.vm.boot_timeout = 900')
    expect(text).not.toMatch(/host-passthrough|nested|cpu_mode|kvm_hidden/)
    expect(renderVagrantfile(config('provider: libvirt'), {provisioningDir: 'p'})).not.toContain('boot_timeout')
  })

  it('provider ssh has no Vagrantfile (exit 2)', () => {
    const ssh = config('provider: ssh\nssh:\n  host: 192.0.2.10\n  user: chaos\n  identityFile: ~/.ssh/id_ed25519\n')
    expect(() => renderVagrantfile(ssh, {provisioningDir: 'p'})).toThrow(expect.objectContaining({exitCode: 2, code: 'not_a_vagrant_lab'}))
  })

  it('refuses a number that is not a positive whole number even when the schema was bypassed', () => {
    const bad = {...defaultLabConfig(), memory: '4096; system("id")'} as unknown as LabConfig
    expect(() => renderVagrantfile(bad, {provisioningDir: 'p'})).toThrow(/memory .* not a positive whole number/)
    const fraction = {...defaultLabConfig(), forwardedPort: 80.5}
    expect(() => renderVagrantfile(fraction, {provisioningDir: 'p'})).toThrow(/forwardedPort/)
  })
})

describe('the template engine', () => {
  it('every value reaches the Vagrantfile through `ruby`, as a checked integer, or as the one boolean', () => {
    const source = readFileSync(templatePath('Vagrantfile'), 'utf8')
    const INTEGERS = new Set(['forwardedPort', 'virtualbox.memory', 'virtualbox.cpus', 'libvirt.memory', 'libvirt.cpus'])
    const CONDITIONS = new Set(['fromDefaults', 'libvirt.softwareEmulation', 'gui'])
    const seen: string[] = []
    type Node = {type: string; path?: {original: string}; params?: {original?: string}[]; program?: {body: Node[]}; inverse?: {body: Node[]}}
    const walk = (nodes: Node[]) => {
      for (const node of nodes) {
        if (node.type === 'MustacheStatement') {
          const helper = node.path?.original ?? ''
          const param = node.params?.[0]?.original ?? ''
          seen.push(helper === 'ruby' || helper === 'json' ? `${helper} ${param}` : helper)
          if (helper === 'ruby') continue
          if (helper === 'json') expect(param, 'json writes only the gui boolean').toBe('gui')
          else expect(INTEGERS.has(helper), `{{${helper}}} is written bare: it must be a checked integer`).toBe(true)
        } else if (node.type === 'BlockStatement') {
          expect(node.path?.original).toBe('if')
          expect(CONDITIONS.has(node.params?.[0]?.original ?? ''), `{{#if ${node.params?.[0]?.original ?? ''}}}`).toBe(true)
          walk(node.program?.body ?? [])
          walk(node.inverse?.body ?? [])
        } else {
          expect(['ContentStatement', 'CommentStatement']).toContain(node.type)
        }
      }
    }
    walk(parseTemplate(source).body)
    expect(seen).toContain('ruby box')
    expect(seen).toContain('ruby provisioningDir')
  })

  it('is strict: a value the data lacks is an error, not an empty string', () => {
    expect(() => compileTemplate('port = {{port}}')({})).toThrow(/"port" not defined/)
    expect(() => compileTemplate('box = {{ruby box}}')({})).toThrow(/quotes text only, got nothing/)
    expect(() => renderTemplate('Vagrantfile', {})).toThrow(ChaosLabError)
  })

  it('does not escape HTML (values are quoted for their language instead)', () => {
    expect(compileTemplate('{{ruby v}}')({v: '<a & "b">'})).toBe(`'<a & "b">'`)
  })

  it('knows only its own helpers', () => {
    for (const source of ['{{lookup this "x"}}', '{{log x}}', '{{#with x}}{{/with}}', '{{shell x}}', '{{#shell x}}{{/shell}}']) {
      expect(() => compileTemplate(source)({x: 'y'}), source).toThrow(/knownHelpersOnly/)
    }
    expect(compileTemplate('{{#each xs}}{{ruby this}}{{/each}}{{#unless b}}!{{/unless}}')({xs: ['a', 'b'], b: false})).toBe(`'a''b'!`)
  })

  it('ruby quotes text only; json writes JSON', () => {
    expect(() => compileTemplate('{{ruby n}}')({n: 4096})).toThrow(/quotes text only/)
    expect(compileTemplate('{{json b}} {{json n}}')({b: false, n: 3})).toBe('false 3')
  })

  it('renderTemplate refuses names that are not plain template names', () => {
    expect(() => renderTemplate('../package', {})).toThrow(/Not a template name/)
  })

  it('finds templates/ from the package root', () => {
    expect(templatePath('Vagrantfile')).toBe(join(ROOT, 'templates', 'Vagrantfile.hbs'))
  })

  const built = join(ROOT, 'dist', 'render', 'vagrantfile.js')
  it.skipIf(!existsSync(built))('the built dist/ renders the same Vagrantfile as src/', async () => {
    const dist = await import(pathToFileURL(built).href) as typeof import('../../src/render/vagrantfile.js')
    expect(dist.renderVagrantfile(defaultLabConfig(), {provisioningDir: 'provisioning'})).toBe(renderVagrantfile(defaultLabConfig(), {provisioningDir: 'provisioning'}))
  })
})

const HOSTILE = [
  "it's",
  'back\\slash',
  'trailing\\',
  "\\'",
  "'; system('id'); '",
  '#{system("id")}',
  '"#{`id`}"',
  'line\nbreak',
  'windows\r\nline',
  'lone\rcarriage',
  '$(id)',
  '`id`',
  '%q(x)',
  '__END__',
  'a\n__END__\nb',
  'nul\u0000byte',
  'ctrl\u0004d\u001az',
  'ünïcødé ✓ 😀',
  '',
]

describe('the ruby helper', () => {
  it.each([["it's", "'it\\'s'"], ['a\\b', "'a\\\\b'"], ['#{x}', "'#{x}'"], ['a\r\nb', `'a' "\\r" '\nb'`]])('%j → %s', (input, literal) => {
    expect(rubyString(input)).toBe(literal)
  })

  it.skipIf(!HAVE_RUBY)('yields literals that Ruby reads back as the very same string', () => {
    const program = HOSTILE.map((value) => `STDOUT.write(${rubyString(value)}.unpack1('H*'), "\\n")`).join('\n')
    const lines = runRuby(`${program}\n`).split('\n').slice(0, -1)
    expect(lines).toEqual(HOSTILE.map((value) => Buffer.from(value, 'utf8').toString('hex')))
  })
})

describe('hostile values cannot reach the Vagrantfile as code', () => {
  const work = mkdtempSync(join(tmpdir(), 'chaos-lab-render-'))
  afterAll(() => { rmSync(work, {recursive: true, force: true}) })
  const marker = join(work, 'pwned')

  /** A stand-in for Vagrant: loads the Vagrantfile and records every value assigned and every call made. */
  const RECORDER = String.raw`
require 'json'
$assigned = {}
$calls = []
class Recorder
  def initialize(path)
    @path = path
  end
  def method_missing(name, *args, **kwargs, &block)
    key = "#{@path}.#{name.to_s.chomp('=')}"
    if name.to_s.end_with?('=')
      $assigned[key] = args.first
      return args.first
    end
    $calls << {'call' => key, 'args' => args, 'kwargs' => kwargs.transform_keys(&:to_s)}
    child = Recorder.new(args.empty? ? key : "#{key}[#{args.first}]")
    block.call(child, Recorder.new("#{key}[#{args.first}].override")) if block
    child
  end
  def respond_to_missing?(*)
    true
  end
end
module Vagrant
  def self.configure(version)
    yield Recorder.new('config')
  end
end
load ARGV[0]
STDOUT.write(JSON.generate({'assigned' => $assigned, 'calls' => $calls, 'provider' => ENV['VAGRANT_DEFAULT_PROVIDER']}))
`

  it('the schema refuses them (exit 2)', () => {
    for (const value of [`x'; system('touch ${marker}'); '`, `#{File.write('${marker}', 'x')}`, 'a\nb', '$(id)', '`id`']) {
      for (const key of ['box', 'hostname']) {
        expect(() => config(`${key}: ${JSON.stringify(value)}`)).toThrow(expect.objectContaining({exitCode: 2}))
      }
    }
  })

  it.skipIf(!HAVE_RUBY)('bypassing the schema, Ruby reads each one back as plain text and runs none of it', () => {
    const attack = (tag: string) => `${tag}'; File.write(${JSON.stringify(marker)}, "${tag}"); '#{File.write(${JSON.stringify(marker)}, "${tag}")}\`touch ${marker}\`$(touch ${marker})\n__END__\r\n`
    const base = defaultLabConfig()
    const hostile: LabConfig = {
      ...base,
      box: attack('box'),
      hostname: attack('hostname'),
      profile: attack('profile') as LabConfig['profile'],
      aptProxy: attack('aptProxy'),
      virtualbox: {...base.virtualbox, clipboard: attack('clipboard') as LabConfig['virtualbox']['clipboard']},
      libvirt: {...base.libvirt, uri: attack('uri'), driver: attack('driver') as LabConfig['libvirt']['driver']},
    }
    const file = join(work, 'Vagrantfile')
    const provisioningDir = attack('dir')
    writeFileSync(file, renderVagrantfile(hostile, {provisioningDir}))
    const recorded = JSON.parse(runRuby(RECORDER, [file])) as {assigned: Record<string, unknown>; calls: {call: string; args: unknown[]; kwargs: Record<string, unknown>}[]; provider: string}
    expect(existsSync(marker), 'no hostile value ran as code').toBe(false)
    expect(recorded.assigned['config.vm.box']).toBe(hostile.box)
    expect(recorded.assigned['config.vm.hostname']).toBe(hostile.hostname)
    expect(recorded.assigned['config.vm.provider[virtualbox].name']).toBe(hostile.hostname)
    expect(recorded.assigned['config.vm.provider[virtualbox].override.vm.box']).toBe(hostile.box)
    expect(recorded.assigned['config.vm.provider[libvirt].uri']).toBe(hostile.libvirt.uri)
    expect(recorded.assigned['config.vm.provider[libvirt].driver']).toBe(hostile.libvirt.driver)
    const customize = recorded.calls.find((c) => c.call === 'config.vm.provider[virtualbox].customize')
    expect(customize?.args[0]).toEqual(['modifyvm', 'id', '--vram', '64', '--clipboard-mode', hostile.virtualbox.clipboard, '--vrde', 'off', '--graphicscontroller', 'vmsvga'])
    const upload = recorded.calls.find((c) => c.call === 'config.vm.provision' && c.args[0] === 'chaos-lab-upload')
    expect(upload?.kwargs.source).toBe(resolve(work, provisioningDir))
    const run = recorded.calls.find((c) => c.call === 'config.vm.provision' && c.args[0] === 'chaos-lab-run')
    expect(run?.kwargs.env).toEqual({CHAOS_LAB_PROFILE: hostile.profile, CHAOS_LAB_LOGIN_USER: 'vagrant', CHAOS_LAB_APT_PROXY: hostile.aptProxy})
    expect(recorded.provider).toBe('virtualbox')
  })

  it.skipIf(!HAVE_RUBY)('the default Vagrantfile evaluates to the book\'s settings', () => {
    const file = join(work, 'Vagrantfile.default')
    writeFileSync(file, renderVagrantfile(defaultLabConfig(), {provisioningDir: 'provisioning'}))
    const recorded = JSON.parse(runRuby(RECORDER, [file])) as {assigned: Record<string, unknown>; calls: {call: string; args: unknown[]; kwargs: Record<string, unknown>}[]}
    expect(recorded.assigned).toMatchObject({
      'config.vm.box': 'bento/ubuntu-24.04',
      'config.vm.hostname': 'chaos-lab',
      'config.vm.provider[virtualbox].memory': 4096,
      'config.vm.provider[virtualbox].cpus': 2,
      'config.vm.provider[virtualbox].gui': true,
      'config.vm.provider[libvirt].memory': 4096,
    })
    const network = recorded.calls.find((c) => c.call === 'config.vm.network')
    expect(network?.kwargs).toEqual({id: 'fizzbuzz', guest: 8003, host: 8003, host_ip: '127.0.0.1'})
  })
})

describe('writeVagrantfile', () => {
  const work = mkdtempSync(join(tmpdir(), 'chaos-lab-write-'))
  afterAll(() => { rmSync(work, {recursive: true, force: true}) })

  it('writes only when the content changed, and says whether it did', () => {
    const lab = join(work, 'lab')
    mkdirSync(lab)
    const file = join(lab, 'Vagrantfile')
    expect(writeVagrantfile(labPaths(lab), config(''))).toBe(true)
    const past = new Date('2020-01-01T00:00:00Z')
    utimesSync(file, past, past)
    expect(writeVagrantfile(labPaths(lab), config(''))).toBe(false)
    expect(statSync(file).mtime.getTime()).toBe(past.getTime())
    expect(writeVagrantfile(labPaths(lab), config('memory: 2048'))).toBe(true)
    expect(readFileSync(file, 'utf8')).toContain('vb.memory = 2048')
    expect(readFileSync(file, 'utf8')).toContain('# Generated by chaos-lab from chaos-lab.yaml in this folder')
  })

  it('names the installed provisioning folder (absolute outside the package, relative inside it)', () => {
    expect(provisioningDirFor(work)).toBe(join(ROOT, 'provisioning'))
    expect(provisioningDirFor(ROOT)).toBe('provisioning')
    expect(provisioningDirFor(join(ROOT, 'provisioning'))).toBe(join(ROOT, 'provisioning'))
  })
})
