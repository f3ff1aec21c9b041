import {readFileSync} from 'node:fs'
import {dirname, extname, isAbsolute, resolve} from 'node:path'
import {parseDocument} from 'yaml'

// The same character rules as chaos-lab.yaml's ssh section: values reach ssh and, in printed hints, a shell.
import {SAFE_HOST, SAFE_PATH, SAFE_USER} from '../config/schema.js'
import {ConfigError, errorMessage} from '../errors.js'
import type {SshTarget} from '../ssh/target.js'
import {closest} from '../util/did-you-mean.js'
import {findCycle} from '../util/graph.js'
import {expandHome} from '../util/paths.js'
import {parseYamlWithLines} from '../util/yaml-errors.js'

/**
 * Ansible inventories (INI and YAML), read so that instructors reuse the file they already have.
 *
 * Only the connection variables matter to chaos-lab: ansible_host, ansible_port, ansible_user and
 * ansible_ssh_private_key_file (and their old ansible_ssh_* names). Every other variable is accepted and ignored.
 *
 * Precedence (as Ansible): host vars > child group vars > parent group vars > all vars > the defaults passed in
 * (--user, --identity). Groups at the same depth apply in name order, the later one winning, as Ansible does.
 */

export interface InventoryHost extends SshTarget {
  /** Every group the host is in, including the groups above its own groups, `all`, and `ungrouped` if it has no other. */
  groups: string[]
}

export interface Inventory {
  /** In the order the inventory first names them. */
  hosts: InventoryHost[]
  /** Group name → the names of its hosts (including those of its child groups), in host order. Empty groups are kept. */
  groups: Record<string, string[]>
}

export interface InventoryDefaults {
  /** --user: used when no ansible_user applies to a host. */
  user?: string
  /** --identity: used when no ansible_ssh_private_key_file applies; relative to the current folder. */
  identityFile?: string
}

/** Inventory host names: they also name report files and appear in --limit patterns. */
const HOST_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$/
const IPV6 = /^(?=.*:.*:)[0-9a-fA-F:.]+$/
const GROUP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
/** A range like web[01:60] expands to at most this many hosts; a typo must not allocate millions. */
const MAX_RANGE = 10_000

type Setting = 'host' | 'port' | 'user' | 'identityFile'

/** Ansible variable → what it sets. Later names in Ansible's docs are the older spellings. */
const CONNECTION_VARS: Record<string, Setting> = {
  ansible_host: 'host',
  ansible_ssh_host: 'host',
  ansible_port: 'port',
  ansible_ssh_port: 'port',
  ansible_user: 'user',
  ansible_ssh_user: 'user',
  ansible_ssh_private_key_file: 'identityFile',
  ansible_private_key_file: 'identityFile',
}

interface Value {
  value: string
  /** The variable as written (ansible_ssh_user…), for messages. */
  key: string
  line: number | undefined
}

type Vars = Map<Setting, Value>

interface Group {
  name: string
  vars: Vars
  children: Set<string>
  parents: Set<string>
  /** Hosts listed directly under the group. */
  hosts: Set<string>
}

interface Host {
  name: string
  vars: Vars
  line: number | undefined
}

interface Problem {
  line: number | undefined
  message: string
}

const MAX_LISTED_PROBLEMS = 8

/** Collects everything found while reading, then resolves it to SSH targets. */
class Builder {
  readonly groups = new Map<string, Group>()
  readonly hosts = new Map<string, Host>()
  readonly problems: Problem[] = []
  /** Groups referred to (by :vars or :children) but not yet declared; an error if never declared. */
  readonly pending = new Map<string, {line: number | undefined; message: string}>()

  constructor(readonly file: string) {
    this.group('all')
    this.group('ungrouped')
    this.link('all', 'ungrouped', undefined)
  }

  problem(line: number | undefined, message: string): void {
    this.problems.push({line, message})
  }

  /**
   * Finds or creates a group; returns undefined when the name is not usable. `declare` is false for a group
   * only referred to ([x:vars], [y:children] listing x), which must still be defined somewhere.
   */
  group(name: string, line?: number, declare = true): Group | undefined {
    if (declare) this.pending.delete(name)
    const existing = this.groups.get(name)
    if (existing) return existing
    if (!GROUP_NAME.test(name)) {
      this.problem(line, `${JSON.stringify(name)} is not a usable group name: use letters, digits, _ . and - (no spaces or other signs)`)
      return undefined
    }
    const group: Group = {name, vars: new Map(), children: new Set(), parents: new Set(), hosts: new Set()}
    this.groups.set(name, group)
    return group
  }

  link(parent: string, child: string, line: number | undefined): void {
    if (parent === child) {
      this.problem(line, `group ${child} cannot be a child of itself`)
      return
    }
    this.groups.get(parent)?.children.add(child)
    this.groups.get(child)?.parents.add(parent)
  }

  host(name: string, line: number | undefined, group: Group | undefined): Host | undefined {
    if (!HOST_NAME.test(name) && !IPV6.test(name)) {
      const hint = name.includes('=') ? ' (a variable needs a host name before it, or belongs in a [group:vars] section)' : ''
      this.problem(line, `${JSON.stringify(name)} is not a usable host name${hint}: use letters, digits, _ . and -, or an IP address`)
      return undefined
    }
    let host = this.hosts.get(name)
    if (!host) {
      host = {name, vars: new Map(), line}
      this.hosts.set(name, host)
    }
    group?.hosts.add(name)
    return host
  }

  /** Records a variable on a host or group; only connection variables are kept, conflicts are problems. */
  setVar(owner: {vars: Vars}, ownerLabel: string, key: string, raw: unknown, line: number | undefined): void {
    const setting = CONNECTION_VARS[key]
    if (!setting) return
    const value = this.scalar(key, raw, ownerLabel, line)
    if (value === undefined) return
    const earlier = owner.vars.get(setting)
    if (earlier && earlier.value !== value) {
      const where = earlier.line === undefined ? 'elsewhere' : `on line ${earlier.line}`
      this.problem(line, `${ownerLabel} sets ${key} to ${JSON.stringify(value)} here but ${earlier.key} to ${JSON.stringify(earlier.value)} ${where}: define it once, or the same way each time`)
      return
    }
    if (!earlier) owner.vars.set(setting, {value, key, line})
  }

  private scalar(key: string, raw: unknown, ownerLabel: string, line: number | undefined): string | undefined {
    if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw)
    if (typeof raw !== 'string') {
      const found = raw === null || raw === undefined ? 'nothing' : Array.isArray(raw) ? 'a list' : typeof raw
      this.problem(line, `${ownerLabel}: ${key} must be a single value, found ${found}`)
      return undefined
    }
    const value = raw.trim()
    if (value === '') {
      this.problem(line, `${ownerLabel}: ${key} is empty`)
      return undefined
    }
    if (value.includes('{{') || value.includes('{%')) {
      this.problem(line, `${ownerLabel}: ${key} is a Jinja template (${value}); chaos-lab reads inventories without Ansible's templating, so write the value itself`)
      return undefined
    }
    return value
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Host patterns: name, name:port, [v6::addr]:port, and ranges web[01:03], db-[a:c], node[0:10:2].

interface HostPattern {
  names: string[]
  port: string | undefined
}

export function expandHostPattern(pattern: string): HostPattern {
  let text = pattern
  let port: string | undefined
  const [, v6Address, v6Port] = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(text) ?? []
  if (v6Address !== undefined && (v6Address.match(/:/g)?.length ?? 0) >= 2) return {names: [v6Address], port: v6Port}
  if (IPV6.test(text)) return {names: [text], port: undefined}
  const [, name, portText] = /^(.*[^:]):(\d+)$/.exec(text) ?? []
  if (name !== undefined && !name.replace(/\[[^\]]*\]/g, '').includes(':')) {
    text = name
    port = portText
  }
  return {names: expandRanges(text), port}
}

function expandRanges(text: string): string[] {
  const open = text.indexOf('[')
  if (open < 0) {
    if (text.includes(']')) throw new Error(`"${text}" has a "]" without its "["`)
    return [text]
  }
  const close = text.indexOf(']', open)
  if (close < 0) throw new Error(`"${text}" has a "[" without its "]"`)
  const head = text.slice(0, open)
  const tail = expandRanges(text.slice(close + 1))
  const parts = text.slice(open + 1, close).split(':')
  if (parts.length < 2 || parts.length > 3) throw new Error(`the range [${text.slice(open + 1, close)}] must be [START:END] or [START:END:STEP]`)
  const [begin = '', end = '', stepText] = parts
  const step = stepText === undefined || stepText === '' ? 1 : Number(stepText)
  if (!Number.isInteger(step) || step < 1) throw new Error(`the range step "${stepText ?? ''}" must be a positive whole number`)
  let items: string[] = []
  if (/^\d*$/.test(begin) && /^\d+$/.test(end)) {
    const from = begin === '' ? 0 : Number(begin)
    const to = Number(end)
    if (from > to) throw new Error(`the range [${begin}:${end}] counts down; write the smaller number first`)
    // Ansible: a leading zero means "pad to this width", and then both ends must have the same width.
    const padded = begin.length > 1 && begin.startsWith('0')
    if (padded && begin.length !== end.length) throw new Error(`the range [${begin}:${end}] pads with zeros, so both ends need the same number of digits (e.g. [${begin}:${end.padStart(begin.length, '0')}])`)
    if ((to - from) / step + 1 > MAX_RANGE) throw new Error(`the range [${begin}:${end}] makes more than ${MAX_RANGE} hosts`)
    for (let n = from; n <= to; n += step) items.push(padded ? String(n).padStart(begin.length, '0') : String(n))
  } else if (/^[a-zA-Z]$/.test(begin) && /^[a-zA-Z]$/.test(end)) {
    const from = begin.charCodeAt(0)
    const to = end.charCodeAt(0)
    if (from > to) throw new Error(`the range [${begin}:${end}] counts down; write the earlier letter first`)
    for (let c = from; c <= to; c += step) items.push(String.fromCharCode(c))
  } else {
    throw new Error(`the range [${text.slice(open + 1, close)}] must be numbers like [01:20] or single letters like [a:f]`)
  }
  items = items.flatMap((item) => tail.map((rest) => `${head}${item}${rest}`))
  if (items.length > MAX_RANGE) throw new Error(`"${text}" makes more than ${MAX_RANGE} hosts`)
  return items
}

// ---------------------------------------------------------------------------------------------------------------
// INI

/** Splits a host line into tokens: whitespace separates, quotes group, a # at the start of a token ends the line. */
function tokenize(line: string): string[] {
  const tokens: string[] = []
  let current = ''
  let inToken = false
  let quote: string | undefined
  for (const char of line) {
    if (quote) {
      if (char === quote) quote = undefined
      else current += char
      continue
    }
    if (char === '"' || char === "'") {
      quote = char
      inToken = true
    } else if (/\s/.test(char)) {
      if (inToken) tokens.push(current)
      current = ''
      inToken = false
    } else if (char === '#' && !inToken) {
      break
    } else {
      current += char
      inToken = true
    }
  }
  if (quote) throw new Error(`a ${quote} quote is not closed`)
  if (inToken) tokens.push(current)
  return tokens
}

/** A [group:vars] value: up to an unquoted " #", without its surrounding quotes. */
function varValue(text: string): string {
  const value = text.trim()
  const quoted = /^(["'])(.*)\1(\s+#.*)?$/.exec(value)
  if (quoted?.[2] !== undefined) return quoted[2]
  return value.replace(/\s+#.*$/, '')
}

function parseIni(text: string, builder: Builder): void {
  let section: {group: string; kind: 'hosts' | 'vars' | 'children'} = {group: 'ungrouped', kind: 'hosts'}
  const lines = text.split(/\r?\n/)
  lines.forEach((rawLine, index) => {
    const line = index + 1
    const trimmed = rawLine.trim()
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) return
    if (trimmed.startsWith('[')) {
      const header = /^\[([^\]:]*)(?::([^\]]*))?\]\s*([#;].*)?$/.exec(trimmed)
      if (!header) {
        builder.problem(line, `${JSON.stringify(trimmed)} is not a section header; write [group], [group:vars] or [group:children]`)
        section = {group: '', kind: 'hosts'}
        return
      }
      const name = (header[1] ?? '').trim()
      const kind = header[2]?.trim()
      if (kind !== undefined && kind !== 'vars' && kind !== 'children') {
        const near = closest(kind, ['vars', 'children'])
        builder.problem(line, `[${name}:${kind}] is not a section Ansible knows${near ? ` (did you mean [${name}:${near}]?)` : ''}; write [${name}], [${name}:vars] or [${name}:children]`)
        section = {group: '', kind: 'hosts'}
        return
      }
      if (kind === 'vars') {
        if (!builder.groups.has(name)) {
          builder.pending.set(name, {line, message: `[${name}:vars] sets variables for a group that is never defined`})
        }
        section = {group: builder.group(name, line, false)?.name ?? '', kind: 'vars'}
      } else {
        section = {group: builder.group(name, line)?.name ?? '', kind: kind === 'children' ? 'children' : 'hosts'}
      }
      return
    }
    if (section.group === '') return // inside a section whose header was already reported
    try {
      if (section.kind === 'hosts') iniHostLine(trimmed, line, section.group, builder)
      else if (section.kind === 'vars') iniVarLine(trimmed, line, section.group, builder)
      else iniChildLine(trimmed, line, section.group, builder)
    } catch (error) {
      builder.problem(line, errorMessage(error))
    }
  })
  // [x:vars] may come before [x]: only the definitions still missing at the end are errors.
  const defined = [...builder.groups.keys()].filter((name) => !builder.pending.has(name))
  for (const [name, pending] of builder.pending) {
    const near = closest(name, defined)
    builder.problem(pending.line, `${pending.message}${near ? ` (did you mean ${near}?)` : ''}; define it with a [${name}] section`)
  }
}

function iniHostLine(text: string, line: number, groupName: string, builder: Builder): void {
  const [pattern, ...assignments] = tokenize(text)
  if (pattern === undefined) return
  const vars: [string, string][] = []
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=')
    const key = eq < 0 ? assignment : assignment.slice(0, eq)
    if (eq < 0 || !VAR_NAME.test(key)) {
      throw new Error(`expected key=value after the host name, found ${JSON.stringify(assignment)}`)
    }
    vars.push([key, assignment.slice(eq + 1)])
  }
  if (pattern.includes('=')) {
    throw new Error(`${JSON.stringify(pattern)} is a variable, not a host: a host line starts with the host's name; variables for the whole group go in [${groupName}:vars]`)
  }
  const {names, port} = expandHostPattern(pattern)
  const group = builder.groups.get(groupName)
  for (const name of names) {
    const host = builder.host(name, line, group)
    if (!host) continue
    if (port !== undefined) builder.setVar(host, `host ${name}`, 'ansible_port', port, line)
    for (const [key, value] of vars) builder.setVar(host, `host ${name}`, key, value, line)
  }
}

function iniVarLine(text: string, line: number, groupName: string, builder: Builder): void {
  const eq = text.indexOf('=')
  const key = (eq < 0 ? text : text.slice(0, eq)).trim()
  if (eq < 0 || !VAR_NAME.test(key)) {
    throw new Error(`expected key=value in [${groupName}:vars], found ${JSON.stringify(text)}`)
  }
  const group = builder.groups.get(groupName)
  if (group) builder.setVar(group, `[${groupName}:vars]`, key, varValue(text.slice(eq + 1)), line)
}

function iniChildLine(text: string, line: number, parent: string, builder: Builder): void {
  const [child, ...rest] = tokenize(text)
  if (child === undefined) return
  if (rest.length > 0 || child.includes('=')) {
    throw new Error(`[${parent}:children] lists group names, one a line; found ${JSON.stringify(text)}`)
  }
  if (!GROUP_NAME.test(child)) throw new Error(`${JSON.stringify(child)} is not a usable group name`)
  if (!builder.groups.has(child)) {
    builder.pending.set(child, {line, message: `[${parent}:children] names group ${child}, which is not defined in the inventory`})
    builder.group(child, line, false)
  }
  builder.link(parent, child, line)
}

// ---------------------------------------------------------------------------------------------------------------
// YAML

const GROUP_KEYS = ['hosts', 'vars', 'children']

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function parseYaml(text: string, builder: Builder, fix: string): void {
  const located = parseYamlWithLines(text, builder.file, fix)
  const {document} = located
  const lineOf = (path: readonly PropertyKey[]) => located.lineOf(path)
  const root: unknown = document.toJS()
  if (root === null || root === undefined) return
  if (!isMapping(root)) {
    builder.problem(lineOf([]), `a YAML inventory is a mapping of groups (all: {hosts: …, children: …}), found ${Array.isArray(root) ? 'a list' : typeof root}`)
    return
  }
  const visit = (name: string, body: unknown, path: string[], parent: string | undefined): void => {
    const line = lineOf(path)
    const group = builder.group(name, line)
    if (!group) return
    if (parent !== undefined) builder.link(parent, name, line)
    if (body === null || body === undefined) return
    if (!isMapping(body)) {
      builder.problem(line, `group ${name} must be a mapping with hosts, vars and children, found ${Array.isArray(body) ? 'a list' : typeof body}`)
      return
    }
    for (const key of Object.keys(body)) {
      if (!GROUP_KEYS.includes(key)) {
        const near = closest(key, GROUP_KEYS)
        builder.problem(lineOf([...path, key]), `group ${name} has an unknown key "${key}"${near ? ` (did you mean "${near}"?)` : ''}; a group has hosts, vars and children`)
      }
    }
    const {hosts, vars, children} = body
    if (hosts !== null && hosts !== undefined) {
      if (!isMapping(hosts)) {
        builder.problem(lineOf([...path, 'hosts']), `the hosts of group ${name} must be a mapping (each host name followed by a colon and its variables), found ${Array.isArray(hosts) ? 'a list' : typeof hosts}`)
      } else {
        for (const [pattern, hostVars] of Object.entries(hosts)) {
          const hostPath = [...path, 'hosts', pattern]
          const hostLine = lineOf(hostPath)
          let expanded: HostPattern
          try {
            expanded = expandHostPattern(pattern)
          } catch (error) {
            builder.problem(hostLine, `host ${JSON.stringify(pattern)}: ${errorMessage(error)}`)
            continue
          }
          if (hostVars !== null && hostVars !== undefined && !isMapping(hostVars)) {
            builder.problem(hostLine, `host ${pattern} must be followed by a mapping of variables (or nothing), found ${Array.isArray(hostVars) ? 'a list' : typeof hostVars}`)
            continue
          }
          for (const hostName of expanded.names) {
            const host = builder.host(hostName, hostLine, group)
            if (!host) continue
            if (expanded.port !== undefined) builder.setVar(host, `host ${hostName}`, 'ansible_port', expanded.port, hostLine)
            for (const [key, value] of Object.entries(hostVars ?? {})) {
              builder.setVar(host, `host ${hostName}`, key, value, lineOf([...hostPath, key]))
            }
          }
        }
      }
    }
    if (vars !== null && vars !== undefined) {
      if (!isMapping(vars)) builder.problem(lineOf([...path, 'vars']), `the vars of group ${name} must be a mapping`)
      else for (const [key, value] of Object.entries(vars)) builder.setVar(group, `group ${name}`, key, value, lineOf([...path, 'vars', key]))
    }
    if (children !== null && children !== undefined) {
      if (!isMapping(children)) {
        builder.problem(lineOf([...path, 'children']), `the children of group ${name} must be a mapping of group names (each followed by a colon)`)
      } else {
        for (const [child, childBody] of Object.entries(children)) visit(child, childBody, [...path, 'children', child], name)
      }
    }
  }
  for (const [name, body] of Object.entries(root)) visit(name, body, [name], name === 'all' ? undefined : 'all')
}

// ---------------------------------------------------------------------------------------------------------------
// Resolution

/**
 * Hangs every group without another parent under all, and makes `ungrouped` hold exactly the hosts no other group
 * lists (as Ansible reconciles it). False, with a problem recorded, when groups contain each other in a circle.
 */
function settleGroups(builder: Builder): boolean {
  const {groups} = builder
  for (const group of groups.values()) {
    if (group.name !== 'all' && [...group.parents].every((parent) => parent === 'all')) builder.link('all', group.name, undefined)
  }
  const cycle = findCycle(groups.keys(), (name) => groups.get(name)?.children ?? [])
  if (cycle) {
    builder.problem(undefined, `groups contain each other in a circle: ${cycle.join(' → ')}`)
    return false
  }
  const ungrouped = groupNamed(builder, 'ungrouped')
  // A host named in some group is no longer "ungrouped".
  for (const group of groups.values()) {
    if (group.name === 'all' || group.name === 'ungrouped') continue
    for (const name of group.hosts) ungrouped.hosts.delete(name)
  }
  for (const name of builder.hosts.keys()) {
    const listed = [...groups.values()].some((group) => group.name !== 'all' && group.hosts.has(name))
    if (!listed) ungrouped.hosts.add(name)
  }
  groupNamed(builder, 'all').hosts.clear()
  return true
}

function groupNamed(builder: Builder, name: string): Group {
  const group = builder.groups.get(name)
  if (!group) throw new Error(`inventory group ${name} vanished`)
  return group
}

/** The groups a host is in (with their ancestors and all), and the variables that apply to it, by precedence. */
class Precedence {
  private readonly depth = new Map<string, number>()

  constructor(private readonly builder: Builder) {}

  groupsOf(host: Host): Set<string> {
    const memberOf = new Set<string>(['all'])
    for (const group of this.builder.groups.values()) if (group.hosts.has(host.name)) this.addAncestors(group.name, memberOf)
    return memberOf
  }

  /** Host vars > deeper group vars > shallower ones; at one depth, groups apply in name order, the later winning. */
  effectiveVars(host: Host, memberOf: Set<string>): Vars {
    const applied = [...memberOf].sort((a, b) => this.depthOf(a) - this.depthOf(b) || a.localeCompare(b))
    const effective: Vars = new Map()
    for (const groupName of applied) for (const [setting, value] of groupNamed(this.builder, groupName).vars) effective.set(setting, value)
    for (const [setting, value] of host.vars) effective.set(setting, value)
    return effective
  }

  private depthOf(name: string): number {
    const known = this.depth.get(name)
    if (known !== undefined) return known
    const parents = [...(this.builder.groups.get(name)?.parents ?? [])]
    const value = parents.length === 0 ? 0 : Math.max(...parents.map((parent) => this.depthOf(parent))) + 1
    this.depth.set(name, value)
    return value
  }

  private addAncestors(name: string, into: Set<string>): void {
    if (into.has(name)) return
    into.add(name)
    for (const parent of this.builder.groups.get(name)?.parents ?? []) this.addAncestors(parent, into)
  }
}

/** --user and --identity, checked; a bad one is a problem and counts as not given for the hosts. */
function checkedDefaults(builder: Builder, defaults: InventoryDefaults): {user?: string; identityFile?: string} {
  let user = defaults.user
  if (user !== undefined && !SAFE_USER.test(user)) {
    builder.problem(undefined, `--user ${JSON.stringify(user)} is not a Unix user name (lowercase letters, digits, _ and -)`)
    user = undefined
  }
  let identityFile: string | undefined
  if (defaults.identityFile !== undefined) {
    if (!SAFE_PATH.test(defaults.identityFile) || /^~[^/]/.test(defaults.identityFile)) {
      builder.problem(undefined, `--identity ${JSON.stringify(defaults.identityFile)} must be a plain file path (no quotes, newlines, $, #, ;, |, & or backticks, no ~user)`)
    } else identityFile = resolve(expandHome(defaults.identityFile))
  }
  return {user, identityFile}
}

/** What resolving the hosts shares: the defaults as given and as checked, and who lacks a user or a key. */
interface HostResolution {
  builder: Builder
  given: InventoryDefaults
  checked: {user?: string; identityFile?: string}
  inventoryDir: string
  missingUser: Host[]
  missingKey: Host[]
}

/** One host's connection settings from its effective variables, or undefined (with problems recorded). */
function resolveHost(r: HostResolution, host: Host, effective: Vars): Omit<InventoryHost, 'groups'> | undefined {
  const {builder} = r
  const label = `host ${host.name}`
  const valid = (setting: Setting, rule: RegExp, what: string): string | undefined => {
    const found = effective.get(setting)
    if (!found) return undefined
    if (!rule.test(found.value)) {
      builder.problem(found.line, `${label}: ${found.key} ${JSON.stringify(found.value)} ${what}`)
      return undefined
    }
    return found.value
  }

  let hostAddress = valid('host', SAFE_HOST, 'is not a host name or IP address (letters, digits, . - and :)')
  if (!effective.has('host')) {
    if (SAFE_HOST.test(host.name)) hostAddress = host.name
    else builder.problem(host.line, `${label} has no ansible_host, and its name is not a host name or IP address, so there is nothing to connect to: add ansible_host=ADDRESS`)
  }
  const port = resolvePort(builder, label, effective.get('port'))
  let user = valid('user', SAFE_USER, 'is not a Unix user name (lowercase letters, digits, _ and -, at most 32)')
  if (!effective.has('user')) {
    if (r.checked.user === undefined) {
      if (r.given.user === undefined) r.missingUser.push(host)
    } else user = r.checked.user
  }
  const identityFile = resolveIdentity(r, host, label, effective.get('identityFile'))
  if (hostAddress === undefined || user === undefined || identityFile === undefined) return undefined
  return {host: hostAddress, port, user, identityFile, name: host.name}
}

function resolvePort(builder: Builder, label: string, portValue: Value | undefined): number {
  if (!portValue) return 22
  const parsed = /^\d{1,5}$/.test(portValue.value) ? Number(portValue.value) : NaN
  if (parsed >= 1 && parsed <= 65_535) return parsed
  builder.problem(portValue.line, `${label}: ${portValue.key} ${JSON.stringify(portValue.value)} is not a port; use a whole number from 1 to 65535`)
  return 22
}

function resolveIdentity(r: HostResolution, host: Host, label: string, key: Value | undefined): string | undefined {
  if (key) {
    if (!SAFE_PATH.test(key.value)) {
      r.builder.problem(key.line, `${label}: ${key.key} ${JSON.stringify(key.value)} must be a plain file path (no quotes, newlines, $, #, ;, |, & or backticks)`)
    } else if (/^~[^/]/.test(key.value)) {
      r.builder.problem(key.line, `${label}: ${key.key} ${JSON.stringify(key.value)} names another user's home; write the full path instead`)
    } else {
      const expanded = expandHome(key.value)
      return isAbsolute(expanded) ? expanded : resolve(r.inventoryDir, expanded)
    }
    return undefined
  }
  if (r.checked.identityFile === undefined) {
    if (r.given.identityFile === undefined) r.missingKey.push(host)
    return undefined
  }
  return r.checked.identityFile
}

/** One problem for all the hosts that lack a setting that has no default either. */
function reportMissing(builder: Builder, list: Host[], variable: string, flag: string, why: string): void {
  const [first] = list
  if (!first) return
  const who = list.length === 1
    ? `host ${first.name} has`
    : `${list.length} hosts (${list.slice(0, 3).map((host) => host.name).join(', ')}${list.length > 3 ? ', …' : ''}) have`
  const where = list.length === 1 ? 'in the inventory' : 'in the inventory (e.g. once for all in [all:vars])'
  builder.problem(first.line, `${who} no ${variable}: set it ${where} or pass ${flag}${why}`)
}

/**
 * Two names for one machine is a copy-paste slip: one learner's VM would be checked (or reset) twice, and the
 * other's not at all.
 */
function reportSharedAddresses(builder: Builder, hosts: InventoryHost[]): void {
  const byAddress = new Map<string, InventoryHost>()
  for (const host of hosts) {
    const address = `${host.host.toLowerCase()}:${host.port}`
    const earlier = byAddress.get(address)
    if (earlier) {
      builder.problem(builder.hosts.get(host.name)?.line, `hosts ${earlier.name} and ${host.name} both connect to ${host.host} port ${host.port}: give each its own ansible_host (or ansible_port)`)
    } else byAddress.set(address, host)
  }
}

function resolveInventory(builder: Builder, defaults: InventoryDefaults): Inventory {
  if (!settleGroups(builder)) return {hosts: [], groups: {}}
  const order = [...builder.groups.keys()]
  const precedence = new Precedence(builder)
  const r: HostResolution = {
    builder,
    given: defaults,
    checked: checkedDefaults(builder, defaults),
    inventoryDir: dirname(resolve(builder.file)),
    missingUser: [],
    missingKey: [],
  }
  const hosts: InventoryHost[] = []
  for (const host of builder.hosts.values()) {
    const memberOf = precedence.groupsOf(host)
    const resolved = resolveHost(r, host, precedence.effectiveVars(host, memberOf))
    if (resolved) hosts.push({...resolved, groups: order.filter((name) => memberOf.has(name))})
  }
  reportMissing(builder, r.missingUser, 'ansible_user', '--user', '')
  reportMissing(builder, r.missingKey, 'ansible_ssh_private_key_file', '--identity', ' (chaos-lab logs in with a key, never a password)')
  reportSharedAddresses(builder, hosts)

  const membership = new Map<string, string[]>(order.map((name) => [name, []]))
  for (const host of hosts) for (const group of host.groups) membership.get(group)?.push(host.name)
  return {hosts, groups: Object.fromEntries(membership)}
}

// ---------------------------------------------------------------------------------------------------------------

export type InventoryFormat = 'ini' | 'yaml'

/** .yml/.yaml/.json are YAML; otherwise a file that parses as a YAML mapping of groups is YAML, anything else INI. */
export function detectFormat(file: string, text: string): InventoryFormat {
  const ext = extname(file).toLowerCase()
  if (ext === '.yml' || ext === '.yaml' || ext === '.json') return 'yaml'
  if (ext === '.ini') return 'ini'
  if (text.split(/\r?\n/).some((line) => /^\s*\[[^\]]+\]\s*([#;].*)?$/.test(line))) return 'ini'
  const document = parseDocument(text, {prettyErrors: false})
  if (document.errors.length > 0) return 'ini'
  const root: unknown = document.toJS()
  if (!isMapping(root)) return 'ini'
  const looksLikeGroup = (body: unknown) => body === null || (isMapping(body) && Object.keys(body).some((key) => GROUP_KEYS.includes(key)))
  return Object.values(root).every(looksLikeGroup) ? 'yaml' : 'ini'
}

function fail(file: string, problems: Problem[], fix: string): never {
  const describe = (problem: Problem) => `${problem.line === undefined ? '' : `line ${problem.line}: `}${problem.message}`
  const [first] = problems
  if (!first) throw new Error('fail() needs a problem')
  const message = problems.length === 1
    ? `${file}${first.line === undefined ? '' : ` line ${first.line}`}: ${first.message}.`
    : `${file} has ${problems.length} problems: ${problems.slice(0, MAX_LISTED_PROBLEMS).map(describe).join('; ')}${problems.length > MAX_LISTED_PROBLEMS ? `; and ${problems.length - MAX_LISTED_PROBLEMS} more` : ''}.`
  throw new ConfigError(message, {suggestion: fix, data: {file, problems}}, 'inventory_invalid')
}

/** Parses inventory text. `file` names it in messages and anchors relative key paths (its folder). */
export function parseInventory(text: string, file: string, defaults: InventoryDefaults = {}): Inventory {
  const fix = `Fix ${file}: it is read as an Ansible inventory (INI or YAML; see https://docs.ansible.com/ansible/latest/inventory_guide/intro_inventory.html).`
  const builder = new Builder(file)
  const body = text.replace(/^\uFEFF/, '')
  if (detectFormat(file, body) === 'yaml') parseYaml(body, builder, fix)
  else parseIni(body, builder)
  if (builder.problems.length > 0) fail(file, builder.problems, fix)
  if (builder.hosts.size === 0) {
    throw new ConfigError(`${file} names no hosts.`, {suggestion: `Add the class's machines to ${file}, e.g. a line "learner01 ansible_host=192.0.2.11" under [learners].`, data: {file}}, 'inventory_empty')
  }
  const inventory = resolveInventory(builder, defaults)
  if (builder.problems.length > 0) fail(file, builder.problems, fix)
  return inventory
}

/** Reads an Ansible inventory file (INI or YAML) into SSH targets. Throws ConfigError (exit 2) on any problem. */
export function loadInventory(file: string, defaults: InventoryDefaults = {}): Inventory {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'there is no such file' : code === 'EISDIR' ? 'it is a folder' : errorMessage(error)
    throw new ConfigError(`Cannot read the inventory ${file}: ${why}.`, {
      suggestion: 'Pass --inventory with the path of an Ansible inventory file (INI or YAML).',
      data: {file},
    }, 'inventory_unreadable')
  }
  return parseInventory(text, file, defaults)
}
