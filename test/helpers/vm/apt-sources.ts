import {readFileSync} from 'node:fs'
import path from 'node:path'

import {listDir} from './run.js'

/** One `deb` entry of an apt sources file (deb822 stanza or one-line form). */
export interface AptSource {
  uri: string
  suites: string[]
  components: string[]
}

/** The Debian archive the host installs from, as its own apt configuration names it. */
export interface HostMirror {
  /** The archive (the entry whose suites are not -security ones). */
  mirror: string
  /** The security archive, when the host has one. */
  securityMirror: string | undefined
  components: string[]
}

function parseDeb822(text: string): AptSource[] {
  const sources: AptSource[] = []
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>()
    let last: string | undefined
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue
      if (/^\s/.test(line) && last) {
        fields.set(last, `${fields.get(last) ?? ''} ${line.trim()}`)
        continue
      }
      const match = /^([A-Za-z-]+):\s*(.*)$/.exec(line)
      if (!match?.[1]) continue
      last = match[1].toLowerCase()
      fields.set(last, match[2] ?? '')
    }
    const words = (key: string) => (fields.get(key) ?? '').split(/\s+/).filter(Boolean)
    if (!words('types').includes('deb')) continue
    if ((fields.get('enabled') ?? 'yes').trim().toLowerCase() === 'no') continue
    for (const uri of words('uris')) sources.push({uri, suites: words('suites'), components: words('components')})
  }
  return sources
}

function parseOneLine(text: string): AptSource[] {
  const sources: AptSource[] = []
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').replace(/\[[^\]]*\]/, ' ').trim()
    const [type, uri, suite, ...components] = line.split(/\s+/)
    if (type !== 'deb' || !uri || !suite) continue
    sources.push({uri, suites: [suite], components})
  }
  return sources
}

/** Every `deb` entry of the host's apt configuration, in the order apt reads the files. */
export function hostAptSources(etcApt = '/etc/apt'): AptSource[] {
  const sources: AptSource[] = []
  const readText = (file: string) => {
    try {
      return readFileSync(file, 'utf8')
    } catch {
      return ''
    }
  }
  sources.push(...parseOneLine(readText(path.join(etcApt, 'sources.list'))))
  const dir = path.join(etcApt, 'sources.list.d')
  for (const name of listDir(dir).sort()) {
    if (name.endsWith('.sources')) sources.push(...parseDeb822(readText(path.join(dir, name))))
    else if (name.endsWith('.list')) sources.push(...parseOneLine(readText(path.join(dir, name))))
  }
  return sources
}

const usable = (uri: string) => /^https?:\/\//.test(uri)
const normalize = (uri: string) => uri.replace(/\/+$/, '')

/**
 * The mirror the host's apt sources name. Never written into the repository: the image build reads it
 * here at run time, so the test machines use whatever mirror the machine running the tests can reach.
 */
export function hostMirror(etcApt = '/etc/apt'): HostMirror {
  const sources = hostAptSources(etcApt).filter((source) => usable(source.uri))
  const isSecurity = (source: AptSource) => source.suites.some((suite) => suite.endsWith('-security'))
  const main = sources.find((source) => !isSecurity(source))
  if (!main) {
    throw new Error(
      `No http(s) Debian mirror found in ${etcApt}/sources.list or ${etcApt}/sources.list.d/*.sources: ` +
        'the test image is built from the mirror the host itself uses.',
    )
  }
  const security = sources.find(isSecurity)
  const components = main.components.length > 0 ? main.components : ['main']
  return {mirror: normalize(main.uri), securityMirror: security ? normalize(security.uri) : undefined, components}
}

/** Archive URIs named by apt sources text read from inside a machine (both file formats). */
export function urisInSourcesText(text: string): string[] {
  return [...parseDeb822(text), ...parseOneLine(text)].map((source) => normalize(source.uri))
}
