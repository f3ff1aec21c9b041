import {describe, expect, it} from 'vitest'

import {ConfigError} from '../../src/errors.js'
import {parseInventory} from '../../src/fleet/inventory.js'
import {applyLimit} from '../../src/fleet/limit.js'

const inventory = parseInventory([
  'teacher',
  '[learners]',
  'learner[01:04]',
  '[helpers]',
  'helper-a',
  'learner04',
  '[morning]',
  'learner01',
  'learner02',
  '[class:children]',
  'learners',
  'helpers',
  '[v6]',
  '2001:db8::7',
].join('\n'), 'class.ini', {user: 'chaos', identityFile: '/keys/id_ed25519'})

const names = (pattern: string) => applyLimit(inventory, pattern).map((host) => host.name)

function limitError(pattern: string): ConfigError {
  try {
    applyLimit(inventory, pattern)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error(`--limit ${pattern} threw nothing`)
}

describe('applyLimit', () => {
  const everyone = ['teacher', 'learner01', 'learner02', 'learner03', 'learner04', 'helper-a', '2001:db8::7']

  it('selects a host, a group, all and *', () => {
    expect(names('learner03')).toEqual(['learner03'])
    expect(names('helpers')).toEqual(['learner04', 'helper-a'])
    expect(names('class')).toEqual(['learner01', 'learner02', 'learner03', 'learner04', 'helper-a'])
    expect(names('all')).toEqual(everyone)
    expect(names('*')).toEqual(everyone)
    expect(names('ungrouped')).toEqual(['teacher'])
  })

  it('matches globs against host and group names', () => {
    expect(names('learner0*')).toEqual(['learner01', 'learner02', 'learner03', 'learner04'])
    expect(names('learner0?')).toEqual(['learner01', 'learner02', 'learner03', 'learner04'])
    expect(names('help*')).toEqual(['learner04', 'helper-a'])
    expect(names('*a')).toEqual(['helper-a'])
  })

  it('takes unions with commas or colons, in inventory order, without duplicates', () => {
    expect(names('learner03,teacher')).toEqual(['teacher', 'learner03'])
    expect(names('learner03:teacher')).toEqual(['teacher', 'learner03'])
    expect(names('morning, helpers ,learner01')).toEqual(['learner01', 'learner02', 'learner04', 'helper-a'])
    expect(names('morning,helpers:teacher')).toEqual(['teacher', 'learner01', 'learner02', 'learner04', 'helper-a'])
  })

  it('excludes with ! and intersects with &, whatever their place in the pattern', () => {
    expect(names('learners,!learner02')).toEqual(['learner01', 'learner03', 'learner04'])
    expect(names('!learner02,learners')).toEqual(['learner01', 'learner03', 'learner04'])
    expect(names('learners:&helpers')).toEqual(['learner04'])
    expect(names('class:&learners:!morning')).toEqual(['learner03', 'learner04'])
    // Only exclusions or intersections start from all hosts.
    expect(names('!class')).toEqual(['teacher', '2001:db8::7'])
    expect(names('&morning')).toEqual(['learner01', 'learner02'])
  })

  it('keeps an IPv6 host name whole', () => {
    expect(names('2001:db8::7')).toEqual(['2001:db8::7'])
    expect(names('teacher,2001:db8::7')).toEqual(['teacher', '2001:db8::7'])
    expect(names('all,!2001:db8::7')).toEqual(everyone.slice(0, -1))
  })

  it('a name that matches nothing is an error with a did-you-mean — even in an exclusion', () => {
    const typo = limitError('lerners')
    expect(typo.exitCode).toBe(2)
    expect(typo.code).toBe('limit_no_match')
    expect(typo.message).toBe('--limit "lerners" selects no hosts: lerners is not a host or group in the inventory (did you mean learners?).')
    expect(typo.suggestion).toMatch(/^Groups: learners, helpers, morning, class, v6\. Hosts: teacher, learner01,/)
    expect(limitError('learners,!lerner02').message).toMatch(/lerner02 is not a host or group in the inventory \(did you mean learner02\?\)/)
    expect(limitError('Teacher').message).toMatch(/did you mean teacher\?/)
    expect(limitError('db*').message).toBe('--limit "db*" selects no hosts: db* matches no host or group name.')
  })

  it('a pattern that leaves no host is an error', () => {
    expect(limitError('morning,&helpers').message).toBe('--limit "morning,&helpers" selects no hosts: the names match, but no host is left once the & and ! parts are applied.')
    expect(limitError('all,!all').message).toMatch(/no host is left/)
  })

  it('refuses empty patterns and the Ansible syntax it does not support', () => {
    expect(limitError('').message).toMatch(/it names no host or group/)
    expect(limitError(' , ').message).toMatch(/it names no host or group/)
    expect(limitError('learners,!').message).toMatch(/a ! or & must be followed by a host or group name/)
    expect(limitError('~learner0[12]').message).toMatch(/regular expressions .* are not supported/)
    expect(limitError('@retry.txt').message).toMatch(/reading hosts from a file .* is not supported/)
    expect(limitError('learners[0]').message).toMatch(/subscripts like learners\[0\] are not supported/)
    expect(limitError('learner01 learner02').message).toMatch(/"learner01 learner02" is not a host or group name/)
  })

  it('an empty group is a name that matches, and selecting only it is an error', () => {
    const withEmpty = parseInventory('[spare]\n[web]\nweb01\n', 'i.ini', {user: 'chaos', identityFile: '/k'})
    expect(() => applyLimit(withEmpty, 'spare')).toThrow(/the groups it names have no hosts/)
    expect(applyLimit(withEmpty, 'spare,web').map((host) => host.name)).toEqual(['web01'])
  })
})
