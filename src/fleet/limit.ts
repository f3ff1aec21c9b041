import {ConfigError} from '../errors.js'
import {closest} from '../util/did-you-mean.js'
import type {Inventory, InventoryHost} from './inventory.js'

/**
 * --limit PATTERN: the subset of Ansible's host patterns that a class needs.
 *
 *   web01            a host or a group (both, if a host and a group share the name)
 *   all, *           every host
 *   web*, learner?1  globs on host and group names (* any text, ? one character)
 *   a,b  a:b         union (commas, or colons when there is no comma)
 *   !name            exclusion          &group   intersection
 *
 * As in Ansible, the unions are taken first, then the intersections, then the exclusions, whatever their order
 * in the pattern; a pattern of only exclusions or intersections starts from all hosts. Hosts come back in
 * inventory order. A name that matches nothing is an error (Ansible only warns): a typo in `!learner07` must
 * not reset learner07.
 */
export function applyLimit(inventory: Inventory, pattern: string): InventoryHost[] {
  const terms = splitPattern(inventory, pattern)
  if (terms.length === 0) throw limitError(pattern, 'it names no host or group', inventory)

  const union: InventoryHost[][] = []
  const intersections: InventoryHost[][] = []
  const exclusions: InventoryHost[][] = []
  for (const term of terms) {
    const operator = term[0] === '!' || term[0] === '&' ? term[0] : ''
    const name = term.slice(operator.length)
    const matched = match(inventory, pattern, name)
    if (operator === '!') exclusions.push(matched)
    else if (operator === '&') intersections.push(matched)
    else union.push(matched)
  }

  let selected = new Set<InventoryHost>(union.length === 0 ? inventory.hosts : union.flat())
  for (const hosts of intersections) {
    const keep = new Set(hosts)
    selected = new Set([...selected].filter((host) => keep.has(host)))
  }
  for (const hosts of exclusions) for (const host of hosts) selected.delete(host)

  if (selected.size === 0) {
    const why = exclusions.length > 0 || intersections.length > 0
      ? 'the names match, but no host is left once the & and ! parts are applied'
      : 'the groups it names have no hosts'
    throw limitError(pattern, why, inventory)
  }
  return inventory.hosts.filter((host) => selected.has(host))
}

function splitPattern(inventory: Inventory, pattern: string): string[] {
  const names = new Set(inventory.hosts.map((host) => host.name))
  // Commas separate; so do colons, except inside a host name that has them (an IPv6 address).
  return pattern.split(',').flatMap((part) => {
    const term = part.trim()
    return names.has(term.replace(/^[!&]/, '')) ? [term] : term.split(':').map((piece) => piece.trim())
  }).filter((term) => term !== '')
}

const TERM = /^[A-Za-z0-9_.*?-]+$|^[0-9a-fA-F:.]+$/

function match(inventory: Inventory, pattern: string, name: string): InventoryHost[] {
  if (name === '') throw limitError(pattern, 'a ! or & must be followed by a host or group name', inventory)
  if (name.startsWith('~')) throw limitError(pattern, `regular expressions (${name}) are not supported; use globs such as web*`, inventory)
  if (name.startsWith('@')) throw limitError(pattern, `reading hosts from a file (${name}) is not supported; list them separated by commas`, inventory)
  if (name.includes('[')) throw limitError(pattern, `subscripts like ${name} are not supported; name the hosts, or use a glob`, inventory)
  if (!TERM.test(name)) throw limitError(pattern, `${JSON.stringify(name)} is not a host or group name (letters, digits, _ . - and the globs * ?)`, inventory)
  if (name === 'all' || name === '*') return inventory.hosts

  const isGlob = /[*?]/.test(name)
  const test = isGlob ? globToRegExp(name) : undefined
  const matches = (candidate: string) => (test ? test.test(candidate) : candidate === name)

  const hostNames = new Set<string>()
  let matchedSomething = false
  for (const host of inventory.hosts) {
    if (matches(host.name)) {
      hostNames.add(host.name)
      matchedSomething = true
    }
  }
  for (const [group, members] of Object.entries(inventory.groups)) {
    if (!matches(group)) continue
    matchedSomething = true
    for (const member of members) hostNames.add(member)
  }
  if (!matchedSomething) {
    if (isGlob) throw limitError(pattern, `${name} matches no host or group name`, inventory)
    const near = closest(name, [...inventory.hosts.map((host) => host.name), ...Object.keys(inventory.groups)])
    throw limitError(pattern, `${name} is not a host or group in the inventory${near ? ` (did you mean ${near}?)` : ''}`, inventory)
  }
  return inventory.hosts.filter((host) => hostNames.has(host.name))
}

function globToRegExp(glob: string): RegExp {
  const source = glob.replace(/[.+^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${source}$`)
}

function limitError(pattern: string, why: string, inventory: Inventory): ConfigError {
  const groups = Object.keys(inventory.groups).filter((group) => group !== 'all' && group !== 'ungrouped')
  const hosts = inventory.hosts.map((host) => host.name)
  const list = (names: string[]) => names.length === 0 ? 'none' : names.length > 12 ? `${names.slice(0, 12).join(', ')}, … (${names.length})` : names.join(', ')
  return new ConfigError(`--limit ${JSON.stringify(pattern)} selects no hosts: ${why}.`, {
    suggestion: `Groups: ${list(groups)}. Hosts: ${list(hosts)}. A pattern is names, groups, all or globs (web*), separated by commas; !name excludes, &group intersects.`,
    data: {pattern},
  }, 'limit_no_match')
}
