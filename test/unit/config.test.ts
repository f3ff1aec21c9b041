import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {defaultLabConfig, initYaml} from '../../src/config/init-yaml.js'
import {LabFolder} from '../../src/config/lab-folder.js'
import {parseLabConfig} from '../../src/config/parse.js'
import {KNOWN_KEYS, labConfigSchema, resolveConfig, type LabConfig} from '../../src/config/schema.js'
import {ChaosLabError, ExitCode} from '../../src/errors.js'

// Typed asymmetric matchers (vitest's return `any`, which the strict lint rules refuse).
function matching(pattern: RegExp): string {
  const matcher: unknown = expect.stringMatching(pattern)
  return matcher as string
}
function containing(text: string): string {
  const matcher: unknown = expect.stringContaining(text)
  return matcher as string
}
function objectWith(shape: Record<string, unknown>): Record<string, unknown> {
  const matcher: unknown = expect.objectContaining(shape)
  return matcher as Record<string, unknown>
}

const FILE = 'chaos-lab.yaml'

/** Parses config text that must be refused; returns the error (a ChaosLabError with exit code 2). */
function refused(text: string): ChaosLabError {
  try {
    parseLabConfig(text, FILE)
  } catch (error) {
    expect(error).toBeInstanceOf(ChaosLabError)
    const known = error as ChaosLabError
    expect(known.exitCode).toBe(ExitCode.usage)
    return known
  }
  throw new Error(`expected this config to be refused:\n${text}`)
}

describe('defaults: the book\'s VM', () => {
  it('an empty chaos-lab.yaml is the VM of chapter 2', () => {
    const config = parseLabConfig('', FILE)
    expect(config).toMatchObject({
      provider: 'virtualbox',
      profile: 'desktop',
      gui: true,
      hostname: 'chaos-lab',
      box: 'bento/ubuntu-24.04',
      memory: 4096,
      cpus: 2,
      forwardedPort: 8003,
      virtualbox: {vram: 64, clipboard: 'bidirectional', vrde: false, graphicsController: 'vmsvga'},
      libvirt: {driver: 'kvm', uri: 'qemu:///system'},
      vm: {memory: 4096, cpus: 2},
    })
    expect(config.ssh).toBeUndefined()
  })

  it('a comment-only file and an empty document are the defaults too', () => {
    expect(parseLabConfig('# nothing set\n', FILE)).toEqual(defaultLabConfig())
    expect(parseLabConfig('{}\n', FILE)).toEqual(defaultLabConfig())
  })

  it('profile headless turns the GUI off; libvirt gets a box that has a libvirt build', () => {
    expect(parseLabConfig('profile: headless', FILE).gui).toBe(false)
    const libvirt = parseLabConfig('provider: libvirt\nlibvirt:\n  memory: 2048', FILE)
    expect(libvirt.box).toBe('generic/ubuntu2204')
    expect(libvirt.vm).toEqual({memory: 2048, cpus: 2})
  })
})

describe('bad input: a clear error, exit 2', () => {
  it.each([
    ['memory: 4GB', /line 1: memory must be a whole number of MB \(e\.g\. 4096\), not "4GB"/],
    ['memory: "4096"', /memory must be a whole number of MB/],
    ['memory: 4096.5', /memory must be a whole number of MB/],
    ['memory: -1', /memory must be at least 512 MB/],
    ['memory: 0', /memory must be at least 512 MB/],
    ['memory: 99999999', /memory must be at most 262144 MB/],
    ['cpus: 0', /cpus must be at least 1/],
    ['cpus: -2', /cpus must be at least 1/],
    ['cpus: 1000', /cpus must be at most 64/],
    ['forwardedPort: 70000', /forwardedPort must be at most 65535/],
    ['forwardedPort: 0', /forwardedPort must be at least 1/],
    ['virtualbox:\n  vram: 4096', /line 2: virtualbox\.vram must be at most 256 MB/],
    ['libvirt:\n  memory: 4GB', /line 2: memory must be a whole number of MB/],
  ])('sizes: %j', (text, message) => {
    expect(refused(text).message).toMatch(message)
  })

  it.each([
    ['aptProxy: ftp://192.0.2.10:3142', /line 1: aptProxy must be an http:\/\/ or https:\/\/ URL such as http:\/\/192\.0\.2\.10:3142 \(an apt-cacher-ng\), or "" for none, not "ftp:\/\/192\.0\.2\.10:3142"/],
    ['aptProxy: 192.0.2.10:3142', /aptProxy must be an http:\/\/ or https:\/\/ URL/],
    ['aptProxy: \'http://proxy:3142/";Acquire::x "y\'', /aptProxy must be an http:\/\/ or https:\/\/ URL/],
    ['aptProxy: http://user:secret@proxy:3142', /aptProxy must be an http:\/\/ or https:\/\/ URL/],
    ['aptProxy: 3142', /aptProxy must be text/],
  ])('a proxy that is not an http(s) URL: %j', (text, message) => {
    const error = refused(text)
    expect(error.exitCode).toBe(ExitCode.usage)
    expect(error.message).toMatch(message)
  })

  it('aptProxy: empty by default; http and https URLs with a host name, IPv4 or IPv6 address, port and path', () => {
    expect(parseLabConfig('', FILE).aptProxy).toBe('')
    for (const url of ['http://192.0.2.10:3142', 'https://cache.example.org', 'http://[2001:db8::1]:3142/', 'http://classroom-cache:3142/acng/']) {
      expect(parseLabConfig(`aptProxy: ${url}\n`, FILE).aptProxy).toBe(url)
    }
  })

  it('an unknown provider lists the allowed ones', () => {
    expect(refused('provider: vmware').message).toMatch(/line 1: provider must be one of virtualbox, libvirt, ssh, not "vmware"/)
  })

  it.each([
    ['profile: gui', /profile must be one of desktop, headless/],
    ['virtualbox:\n  clipboard: both', /virtualbox\.clipboard must be one of disabled, hosttoguest, guesttohost, bidirectional/],
    ['libvirt:\n  driver: xen', /libvirt\.driver must be one of kvm, qemu/],
    ['virtualbox:\n  vrde: "off"', /virtualbox\.vrde must be true or false/],
  ])('other choices: %j', (text, message) => {
    expect(refused(text).message).toMatch(message)
  })

  const HOSTILE = [
    "bento/ubuntu'-24.04",
    'x#{system("touch /tmp/pwned")}',
    'bento/ubuntu-24.04\nconfig.vm.provision "shell", inline: "id"',
    '$(id)',
    '`id`',
    'a;id',
    'a|b',
    'a&b',
    '"quoted"',
    'a b',
    '../../etc',
  ]

  it.each(HOSTILE)('a box with quotes, newlines, #{} or shell metacharacters is refused: %j', (box) => {
    expect(refused(`box: ${JSON.stringify(box)}`).message).toMatch(/box must be a Vagrant box name/)
  })

  it.each([...HOSTILE, 'Chaos-Lab', '-lab', 'lab-', 'a'.repeat(64), 'lab.example'])('a bad hostname is refused: %j', (hostname) => {
    expect(refused(`hostname: ${JSON.stringify(hostname)}`).message).toMatch(/hostname must be a host name/)
  })

  it.each(["~/.ssh/id'rsa", '~/.ssh/id_rsa\nx', '$(id)', '`id`', 'a;b', 'a|b', 'a&b', '#{x}', '"k"'])('a bad identity file path is refused: %j', (path) => {
    const text = `provider: ssh\nssh:\n  host: 192.0.2.10\n  user: chaos\n  identityFile: ${JSON.stringify(path)}`
    expect(refused(text).message).toMatch(/line 5: ssh\.identityFile must be a plain file path/)
  })

  it.each(["qemu:///system'", 'qemu:///system\n', 'qemu:///#{x}', 'qemu:///$(id)', 'xen:///system'])('a bad libvirt URI is refused: %j', (uri) => {
    expect(refused(`libvirt:\n  uri: ${JSON.stringify(uri)}`).message).toMatch(/libvirt\.uri must be a libvirt URI/)
  })

  it.each([
    ['provider: virtualbox\nmemory: 4096\n  cpus: 2\n', 2],
    ['provider: virtualbox\nmemory: "4096\ncpus: 2\n', 4],
    ['provider: virtualbox\nvirtualbox:\n\tvram: 64\n', 3],
    ['provider: virtualbox\nprovider: libvirt\n', 2],
  ])('a YAML syntax error says the line: %j', (text, line) => {
    const error = refused(text)
    expect(error.code).toBe('yaml_syntax')
    expect(error.message).toMatch(new RegExp(`^${FILE} line ${line}: this is not valid YAML`))
    expect(error.data).toMatchObject({line})
  })

  it('an unknown key says which and suggests the near one', () => {
    const error = refused('provider: virtualbox\nmemroy: 4096\n')
    expect(error.message).toMatch(/line 2: unknown key: "memroy" \(did you mean "memory"\?\)/)
    expect(error.message).toMatch(/known keys: provider, profile, hostname, box, memory, cpus, forwardedPort/)
  })

  it('an unknown nested key names its section and suggests the near one', () => {
    expect(refused('virtualbox:\n  vramm: 64\n').message).toMatch(/line 2: unknown key in virtualbox: "vramm" \(did you mean "vram"\?\)/)
    expect(refused('libvirt:\n  drivr: qemu\n').message).toMatch(/unknown key in libvirt: "drivr" \(did you mean "driver"\?\)/)
  })

  it('an unknown key far from every known one gets no guess', () => {
    const message = refused('colour: blue').message
    expect(message).toMatch(/unknown key: "colour"/)
    expect(message).not.toMatch(/did you mean/)
  })

  it('every problem is listed at once, each with its line', () => {
    const error = refused('memory: 4GB\ncpus: 0\nprovider: vmware\n')
    for (const part of [/line 1: memory/, /line 2: cpus/, /line 3: provider/]) expect(error.message).toMatch(part)
    expect((error.data as {problems: unknown[]}).problems).toHaveLength(3)
  })

  it('provider ssh without its ssh section is refused', () => {
    expect(refused('provider: ssh').message).toMatch(/provider ssh needs an ssh section/)
  })

  it('a file that is not a mapping is refused', () => {
    expect(refused('- a\n- b\n').message).toMatch(/expected settings as "key: value" lines, found a list/)
    expect(refused('just text\n').message).toMatch(/found string/)
  })

  it('the error says how to start again', () => {
    expect(refused('cpus: 0').describe()).toMatch(/chaos-lab init --force/)
  })
})

describe('LabFolder.load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-lab-config-'))
  afterAll(() => { rmSync(dir, {recursive: true, force: true}) })

  it('a folder without chaos-lab.yaml is a usage error (exit 2) that says to run init', () => {
    const empty = mkdtempSync(join(dir, 'empty-'))
    expect(() => LabFolder.load(empty)).toThrow(objectWith({exitCode: 2, code: 'no_lab', suggestion: matching(/chaos-lab init/) }))
  })

  it('a bad chaos-lab.yaml is a config error (exit 2) naming the file', () => {
    const bad = mkdtempSync(join(dir, 'bad-'))
    writeFileSync(join(bad, 'chaos-lab.yaml'), 'memory: 4GB\n')
    expect(() => LabFolder.load(bad)).toThrow(objectWith({exitCode: 2, message: containing(join(bad, 'chaos-lab.yaml'))}))
  })
})

describe('initYaml: the chaos-lab.yaml that init writes', () => {
  const variants: [string, LabConfig][] = [
    ['defaults', defaultLabConfig()],
    ['libvirt headless', resolveConfig(labConfigSchema.parse({provider: 'libvirt', profile: 'headless'}))],
    ['a chosen box', resolveConfig(labConfigSchema.parse({box: 'ubuntu/jammy64'}))],
    ['libvirt overrides', resolveConfig(labConfigSchema.parse({provider: 'libvirt', libvirt: {driver: 'qemu', memory: 2048, cpus: 1}}))],
    ['ssh', resolveConfig(labConfigSchema.parse({provider: 'ssh', ssh: {host: '192.0.2.10', user: 'chaos', identityFile: '~/.ssh/id_ed25519'}}))],
  ]

  it.each(variants)('parses back to the same settings (%s)', (_name, config) => {
    expect(parseLabConfig(initYaml(config), FILE)).toStrictEqual(config)
  })

  it('the defaults parse back to exactly the defaults', () => {
    expect(parseLabConfig(initYaml(defaultLabConfig()), FILE)).toStrictEqual(parseLabConfig('', FILE))
  })

  it('spells out every setting, each with a one-line comment', () => {
    const text = initYaml(defaultLabConfig())
    const lines = text.split('\n')
    for (const [section, keys] of Object.entries(KNOWN_KEYS)) {
      for (const key of keys) {
        // Top-level keys start the line; section keys are indented; the ssh example is commented out.
        const starts = section === '' ? [`${key}:`, `# ${key}:`] : section === 'ssh' ? [`#   ${key}:`] : [`  ${key}:`, `  # ${key}:`]
        const at = lines.findIndex((line) => starts.some((start) => line.startsWith(start)))
        expect(at, `${section ? `${section}.` : ''}${key} is spelled out`).toBeGreaterThanOrEqual(0)
        const line = lines[at] ?? ''
        const commentedOut = /^\s*#/.test(line)
        const trailing = (line.match(/#/g) ?? []).length >= (commentedOut ? 2 : 1)
        const previous = lines[at - 1] ?? ''
        const above = /^\s*# \S/.test(previous) && !/^\s*#\s*[A-Za-z]+: /.test(previous)
        expect(trailing || above, `${key} has a one-line comment: ${line}`).toBe(true)
      }
    }
  })

  it('the defaults are written as values, not left implicit', () => {
    const text = initYaml(defaultLabConfig())
    for (const line of ['provider: virtualbox', 'profile: desktop', 'hostname: chaos-lab', 'box: bento/ubuntu-24.04', 'memory: 4096', 'cpus: 2', 'forwardedPort: 8003',
      '  vram: 64', '  clipboard: bidirectional', '  vrde: false', '  graphicsController: vmsvga', '  driver: kvm', '  uri: qemu:///system']) {
      expect(text.split('\n')).toContain(line)
    }
  })
})
