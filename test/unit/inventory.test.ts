import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {homedir, tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, describe, expect, it} from 'vitest'

import {ConfigError} from '../../src/errors.js'
import {detectFormat, expandHostPattern, loadInventory, parseInventory, type Inventory, type InventoryDefaults, type InventoryHost} from '../../src/fleet/inventory.js'

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'inventory')
const fixture = (name: string) => join(fixtures, name)
const KEY = '/keys/id_ed25519'
const withKey = {identityFile: KEY}

function byName(inventory: Inventory, name: string): InventoryHost {
  const host = inventory.hosts.find((candidate) => candidate.name === name)
  if (!host) throw new Error(`no host ${name} in ${inventory.hosts.map((h) => h.name).join(', ')}`)
  return host
}

/** The ConfigError a call throws (fails the test if it throws nothing or something else). */
function configError(run: () => unknown): ConfigError {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('expected a ConfigError, nothing was thrown')
}

describe('loadInventory: the class fixture (INI)', () => {
  const inventory = loadInventory(fixture('class.ini'), {})

  it('lists the hosts in inventory order, with ranges expanded', () => {
    expect(inventory.hosts.map((host) => host.name)).toEqual(['bastion', 'learner01', 'learner02', 'learner03', 'learner10', 'helper-a'])
  })

  it('applies host vars > child group vars > parent group vars > all vars', () => {
    // learners:vars (child) beats room:vars (parent) for the user; room's port applies; all's key is overridden.
    expect(byName(inventory, 'learner01')).toEqual({
      name: 'learner01', host: 'learner01', port: 22022, user: 'chaos',
      identityFile: join(fixtures, 'keys', 'class_ed25519'),
      groups: ['all', 'learners', 'room'],
    })
    // The host's own port beats every group.
    expect(byName(inventory, 'learner10')).toMatchObject({host: '192.0.2.110', port: 2222, user: 'chaos'})
    // Ungrouped: only [all:vars] applies, with ~ expanded to the home folder.
    expect(byName(inventory, 'bastion')).toEqual({
      name: 'bastion', host: '192.0.2.5', port: 22, user: 'admin',
      identityFile: join(homedir(), '.ssh', 'chaos_lab'),
      groups: ['all', 'ungrouped'],
    })
  })

  it('reads the old ansible_ssh_* names', () => {
    expect(byName(inventory, 'helper-a')).toMatchObject({host: '192.0.2.201', port: 2200, user: 'helper', identityFile: join(homedir(), '.ssh', 'chaos_lab')})
  })

  it('maps every group, including all, ungrouped and the hosts of child groups', () => {
    expect(inventory.groups).toEqual({
      all: ['bastion', 'learner01', 'learner02', 'learner03', 'learner10', 'helper-a'],
      ungrouped: ['bastion'],
      learners: ['learner01', 'learner02', 'learner03', 'learner10'],
      helpers: ['helper-a'],
      room: ['learner01', 'learner02', 'learner03', 'learner10', 'helper-a'],
    })
  })
})

describe('loadInventory: formats', () => {
  const normalize = (inventory: Inventory) => ({
    hosts: inventory.hosts.map((host) => ({...host, groups: [...host.groups].sort()})),
    groups: Object.fromEntries(Object.entries(inventory.groups).sort(([a], [b]) => a.localeCompare(b))),
  })

  it('reads the YAML form of the same class to the same result', () => {
    expect(normalize(loadInventory(fixture('class.yml'), {}))).toEqual(normalize(loadInventory(fixture('class.ini'), {})))
  })

  it('detects the format from the content when the file has no extension', () => {
    expect(detectFormat('hosts', 'web01 ansible_host=192.0.2.1\n')).toBe('ini')
    expect(detectFormat('hosts', '[web]\nweb01\n')).toBe('ini')
    expect(detectFormat('hosts', 'all:\n  hosts:\n    web01:\n')).toBe('yaml')
    expect(detectFormat('inventory.yaml', '')).toBe('yaml')
    expect(normalize(loadInventory(fixture('hosts-ini'), {}))).toEqual(normalize(loadInventory(fixture('class.ini'), {})))
    expect(normalize(loadInventory(fixture('hosts-yaml'), {}))).toEqual(normalize(loadInventory(fixture('class.ini'), {})))
  })

  it('reads top-level YAML groups other than all, null hosts and host:port keys', () => {
    const inventory = parseInventory([
      'learners:',
      '  hosts:',
      '    learner01:',
      '    learner02:2201:',
      '  vars:',
      '    ansible_user: chaos',
      'spare:',
    ].join('\n'), 'class.yaml', withKey)
    expect(inventory.hosts.map(({name, host, port}) => ({name, host, port}))).toEqual([
      {name: 'learner01', host: 'learner01', port: 22},
      {name: 'learner02', host: 'learner02', port: 2201},
    ])
    expect(inventory.groups.spare).toEqual([])
    expect(inventory.groups.learners).toEqual(['learner01', 'learner02'])
  })
})

describe('parseInventory: INI details', () => {
  const ini = (text: string, defaults: InventoryDefaults = {user: 'chaos', identityFile: KEY}) => parseInventory(text, 'hosts.ini', defaults)

  it('expands numeric ranges with zero padding, letters, steps and several ranges', () => {
    expect(expandHostPattern('web[01:03]').names).toEqual(['web01', 'web02', 'web03'])
    expect(expandHostPattern('web[8:10]').names).toEqual(['web8', 'web9', 'web10'])
    expect(expandHostPattern('web[001:100]').names).toHaveLength(100)
    expect(expandHostPattern('web[001:100]').names.at(-1)).toBe('web100')
    expect(expandHostPattern('node[0:10:5]').names).toEqual(['node0', 'node5', 'node10'])
    expect(expandHostPattern('db-[a:c].lab').names).toEqual(['db-a.lab', 'db-b.lab', 'db-c.lab'])
    expect(expandHostPattern('r[1:2]n[1:2]').names).toEqual(['r1n1', 'r1n2', 'r2n1', 'r2n2'])
    expect(expandHostPattern('web[01:02]:2222')).toEqual({names: ['web01', 'web02'], port: '2222'})
    expect(expandHostPattern('[2001:db8::5]:2222')).toEqual({names: ['2001:db8::5'], port: '2222'})
    expect(expandHostPattern('2001:db8::5')).toEqual({names: ['2001:db8::5'], port: undefined})
  })

  it('rejects ranges that count down, mix widths or are far too big', () => {
    expect(() => expandHostPattern('web[03:01]')).toThrow(/counts down/)
    expect(() => expandHostPattern('web[01:100]')).toThrow(/same number of digits/)
    expect(() => expandHostPattern('web[0:99999999]')).toThrow(/more than 10000 hosts/)
    expect(() => expandHostPattern('web[01-03]')).toThrow(/must be \[START:END\]/)
    const error = configError(() => ini('[web]\nweb[3:1]\n'))
    expect(error.message).toBe('hosts.ini line 2: the range [3:1] counts down; write the smaller number first.')
  })

  it('reads host:port, quoted values, inline comments and ignores other variables', () => {
    const inventory = ini([
      '[web]',
      'web01:2201 ansible_host="192.0.2.1" # first machine',
      "web02 ansible_host='192.0.2.2' ansible_become=true ansible_ssh_common_args='-o ProxyJump=gate'",
    ].join('\n'))
    expect(inventory.hosts.map(({name, host, port}) => ({name, host, port}))).toEqual([
      {name: 'web01', host: '192.0.2.1', port: 2201},
      {name: 'web02', host: '192.0.2.2', port: 22},
    ])
  })

  it('lets a [group:vars] section come before the group and children be declared later', () => {
    const inventory = ini(['[class:vars]', 'ansible_port=2200', '[class:children]', 'web', '[web]', 'web01'].join('\n'))
    expect(byName(inventory, 'web01')).toMatchObject({port: 2200, groups: ['all', 'class', 'web']})
  })

  it('moves a host out of ungrouped once a group names it', () => {
    const inventory = ini(['web01', 'db01', '[web]', 'web01'].join('\n'))
    expect(inventory.groups.ungrouped).toEqual(['db01'])
    expect(byName(inventory, 'web01').groups).toEqual(['all', 'web'])
  })

  it('applies sibling groups of the same depth in name order (the later name wins), as Ansible does', () => {
    const inventory = ini(['[b_group]', 'web01', '[a_group]', 'web01', '[a_group:vars]', 'ansible_user=alice', '[b_group:vars]', 'ansible_user=bob'].join('\n'), {identityFile: KEY})
    expect(byName(inventory, 'web01').user).toBe('bob')
  })

  it('uses the defaults (--user, --identity) only where the inventory sets nothing', () => {
    const inventory = parseInventory('[web]\nweb01\nweb02 ansible_user=own ansible_ssh_private_key_file=/keys/own\n', 'hosts.ini', {user: 'chaos', identityFile: '~/.ssh/id_ed25519'})
    expect(byName(inventory, 'web01')).toMatchObject({user: 'chaos', identityFile: join(homedir(), '.ssh', 'id_ed25519')})
    expect(byName(inventory, 'web02')).toMatchObject({user: 'own', identityFile: '/keys/own'})
    // A relative --identity is relative to the current folder; a relative inventory key, to the inventory's folder.
    expect(byName(parseInventory('web01\n', 'class/hosts.ini', {user: 'chaos', identityFile: 'keys/k'}), 'web01').identityFile).toBe(resolve('keys/k'))
    expect(byName(parseInventory('web01 ansible_ssh_private_key_file=keys/k\n', 'class/hosts.ini', {user: 'chaos'}), 'web01').identityFile).toBe(resolve('class', 'keys', 'k'))
  })

  it('keeps a group named like an Object property as data', () => {
    const inventory = ini('[__proto__]\nweb01\n[constructor]\nweb01\n')
    expect(Object.getPrototypeOf(inventory.groups)).toBe(Object.prototype)
    expect(Object.hasOwn(inventory.groups, '__proto__')).toBe(true)
    expect(inventory.groups.constructor).toEqual(['web01'])
  })
})

describe('parseInventory: errors name the file, the line and the problem', () => {
  const ini = (text: string, defaults: InventoryDefaults = {user: 'chaos', identityFile: KEY}) => parseInventory(text, 'hosts.ini', defaults)

  it('a host without a user or a key', () => {
    const noUser = configError(() => ini('[web]\nweb01 ansible_user=chaos\n\nweb03 ansible_host=192.0.2.13\n', withKey))
    expect(noUser.message).toBe('hosts.ini line 4: host web03 has no ansible_user: set it in the inventory or pass --user.')
    expect(noUser.exitCode).toBe(2)
    expect(noUser.code).toBe('inventory_invalid')
    expect(noUser.data).toMatchObject({file: 'hosts.ini', problems: [{line: 4}]})

    const noKey = configError(() => ini('[web]\nweb01\n', {user: 'chaos'}))
    expect(noKey.message).toMatch(/^hosts\.ini line 2: host web01 has no ansible_ssh_private_key_file: set it in the inventory or pass --identity/)
  })

  it('many hosts without a user become one problem', () => {
    const error = configError(() => ini('[web]\nweb[01:60]\n', withKey))
    expect(error.message).toBe('hosts.ini line 2: 60 hosts (web01, web02, web03, …) have no ansible_user: set it in the inventory (e.g. once for all in [all:vars]) or pass --user.')
  })

  it('the YAML fixture with a host missing its user', () => {
    const error = configError(() => loadInventory(fixture('missing-user.yaml'), {}))
    expect(error.message).toBe(`${fixture('missing-user.yaml')} line 11: host web03 has no ansible_user: set it in the inventory or pass --user.`)
  })

  it('a bad port', () => {
    expect(configError(() => ini('[web]\nweb01 ansible_port=ssh\n')).message).toBe('hosts.ini line 2: host web01: ansible_port "ssh" is not a port; use a whole number from 1 to 65535.')
    expect(configError(() => ini('[web]\nweb01\n[web:vars]\nansible_port=70000\n')).message).toMatch(/^hosts\.ini line 4: host web01: ansible_port "70000" is not a port/)
    expect(configError(() => parseInventory('all:\n  hosts:\n    web01:\n      ansible_port: 0\n', 'i.yml', {user: 'chaos', identityFile: KEY})).message).toMatch(/^i\.yml line 4: host web01: ansible_port "0" is not a port/)
  })

  it('duplicate definitions that conflict, naming both lines', () => {
    const error = configError(() => loadInventory(fixture('conflict.ini'), {identityFile: KEY}))
    expect(error.message).toBe(`${fixture('conflict.ini')} line 6: host web01 sets ansible_host to "192.0.2.99" here but ansible_host to "192.0.2.11" on line 2: define it once, or the same way each time.`)
    // The same value twice, and the old and new names of one variable with the same value, are fine.
    expect(ini('[a]\nweb01 ansible_host=192.0.2.1\n[b]\nweb01 ansible_ssh_host=192.0.2.1\n').hosts).toHaveLength(1)
    expect(configError(() => ini('[web:vars]\nansible_user=a\n[web:vars]\nansible_ssh_user=b\n[web]\nweb01\n')).message)
      .toBe('hosts.ini line 4: [web:vars] sets ansible_ssh_user to "b" here but ansible_user to "a" on line 2: define it once, or the same way each time.')
    const yaml = 'all:\n  children:\n    a:\n      hosts:\n        web01: {ansible_port: 22}\n    b:\n      hosts:\n        web01: {ansible_port: 2222}\n'
    expect(configError(() => parseInventory(yaml, 'i.yml', {user: 'chaos', identityFile: KEY})).message).toMatch(/^i\.yml line 8: host web01 sets ansible_port to "2222" here but ansible_port to "22" on line 5/)
  })

  it('two hosts that connect to the same machine', () => {
    expect(configError(() => ini('[learners]\nlearner04 ansible_host=192.0.2.14\nlearner05 ansible_host=192.0.2.14\n')).message)
      .toBe('hosts.ini line 3: hosts learner04 and learner05 both connect to 192.0.2.14 port 22: give each its own ansible_host (or ansible_port).')
    // One address, different forwarded ports: different machines.
    expect(ini('learner04 ansible_host=127.0.0.1 ansible_port=2222\nlearner05 ansible_host=127.0.0.1 ansible_port=2223\n').hosts).toHaveLength(2)
  })

  it('an unknown [x:children] group, with a did-you-mean', () => {
    const error = configError(() => ini('[learners]\nweb01\n[class:children]\nlearner\n'))
    expect(error.message).toBe('hosts.ini line 4: [class:children] names group learner, which is not defined in the inventory (did you mean learners?); define it with a [learner] section.')
  })

  it('[x:vars] for a group that is never defined', () => {
    expect(configError(() => ini('web01\n[web:vars]\nansible_user=chaos\n')).message).toMatch(/^hosts\.ini line 2: \[web:vars\] sets variables for a group that is never defined/)
  })

  it('shell metacharacters and templates in connection values', () => {
    expect(configError(() => ini('web01 ansible_user=root;reboot\n')).message).toMatch(/line 1: host web01: ansible_user "root;reboot" is not a Unix user name/)
    expect(configError(() => ini("web01 ansible_host='$(reboot)'\n")).message).toMatch(/ansible_host "\$\(reboot\)" is not a host name or IP address/)
    expect(configError(() => ini('web01 ansible_ssh_private_key_file="/keys/a`id`"\n')).message).toMatch(/must be a plain file path/)
    expect(configError(() => ini('web01 ansible_ssh_private_key_file=~bob/.ssh/k\n')).message).toMatch(/names another user's home/)
    expect(configError(() => ini('web01 ansible_host="{{ lookup(\'env\', \'IP\') }}"\n')).message).toMatch(/is a Jinja template/)
    expect(configError(() => ini('web01\n', {user: 'Root Admin', identityFile: KEY})).message).toMatch(/--user "Root Admin" is not a Unix user name/)
    expect(configError(() => ini('web;01\n')).message).toMatch(/"web;01" is not a usable host name/)
    expect(configError(() => ini('learner_01\n')).message).toMatch(/host learner_01 has no ansible_host, and its name is not a host name/)
  })

  it('broken INI structure, every problem listed with its line', () => {
    const error = configError(() => ini(['[web:var]', 'x', '[db]', 'ansible_user=chaos', 'db01 ansible_port', '[db:children]', 'a b', '[bad group]'].join('\n')))
    expect(error.message).toBe('hosts.ini has 5 problems: '
      + 'line 1: [web:var] is not a section Ansible knows (did you mean [web:vars]?); write [web], [web:vars] or [web:children]; '
      + 'line 4: "ansible_user=chaos" is a variable, not a host: a host line starts with the host\'s name; variables for the whole group go in [db:vars]; '
      + 'line 5: expected key=value after the host name, found "ansible_port"; '
      + 'line 7: [db:children] lists group names, one a line; found "a b"; '
      + 'line 8: "bad group" is not a usable group name: use letters, digits, _ . and - (no spaces or other signs).')
    expect(configError(() => ini('[bad group]\nweb01\n')).message).toMatch(/line 1: "bad group" is not a usable group name/)
    expect(configError(() => ini('web01 ansible_host="192.0.2.1\n')).message).toMatch(/line 1: a " quote is not closed/)
  })

  it('groups that contain each other', () => {
    expect(configError(() => ini('[a:children]\nb\n[b:children]\na\n[a]\nweb01\n')).message).toMatch(/groups contain each other in a circle: (a → b → a|b → a → b)/)
  })

  it('YAML: syntax, unknown keys, lists where mappings belong', () => {
    const yaml = (text: string) => parseInventory(text, 'class.yml', {user: 'chaos', identityFile: KEY})
    expect(configError(() => yaml('all:\n  hosts:\n    web01: {ansible_host: [\n')).message).toMatch(/^class\.yml line \d+: this is not valid YAML/)
    expect(configError(() => yaml('all:\n  host:\n    web01:\n')).message).toBe('class.yml line 2: group all has an unknown key "host" (did you mean "hosts"?); a group has hosts, vars and children.')
    expect(configError(() => yaml('all:\n  hosts:\n    - web01\n')).message).toMatch(/^class\.yml line 2: the hosts of group all must be a mapping/)
    expect(configError(() => yaml('- web01\n')).message).toMatch(/a YAML inventory is a mapping of groups/)
    expect(configError(() => yaml('all:\n  hosts:\n    web01:\n      ansible_user: [a, b]\n')).message).toBe('class.yml line 4: host web01: ansible_user must be a single value, found a list.')
  })

  it('an empty inventory and a missing file', () => {
    expect(configError(() => ini('# nothing yet\n')).code).toBe('inventory_empty')
    const missing = configError(() => loadInventory(fixture('no-such-inventory.ini'), {}))
    expect(missing.code).toBe('inventory_unreadable')
    expect(missing.message).toMatch(/Cannot read the inventory .*no-such-inventory\.ini: there is no such file\./)
  })
})

describe('loadInventory: real files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chaos-lab-inventory-'))
  afterAll(() => {
    rmSync(dir, {recursive: true, force: true})
  })

  it('reads Windows line endings and a byte-order mark', () => {
    const file = join(dir, 'hosts')
    writeFileSync(file, '\uFEFF[web]\r\nweb01 ansible_user=chaos\r\n[web:vars]\r\nansible_port=2200\r\n')
    expect(loadInventory(file, withKey).hosts).toEqual([{name: 'web01', host: 'web01', port: 2200, user: 'chaos', identityFile: KEY, groups: ['all', 'web']}])
  })
})
