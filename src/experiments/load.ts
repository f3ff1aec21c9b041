import {quantileSorted} from 'simple-statistics'

import {shellQuote} from '../util/shell.js'
import {abCommand} from './load-ab.js'
import type {LoadSecond, LoadTotals} from './journal.js'
import type {LoadSpec} from './schema.js'

/**
 * The load generator: `ab -c 10` as the book runs it, but counting per second, which ab cannot (its -g file has
 * no status codes, so nginx's 502s cannot be told from answers). A small Python program (python3 is in every lab
 * VM: the FizzBuzz API is one), sent in the command itself so nothing on the machine can change it: CONCURRENCY
 * clients, each sending GET after GET on a fresh connection (as ab without -k), each request counted as ok (2xx),
 * non2xx (an answer with another status: nginx's 502 when both instances are down) or failed (no answer: refused,
 * reset, a body cut short, or nothing within 30 s, ab's default timeout: ab's "Failed requests"; the book's
 * `ab -l` does not count a cut body). Every second it prints one JSON line {s, ok, non2xx, failed, lat, why} (lat:
 * the latencies in ms of that second's successful requests; why, only when there were errors: what they were,
 * `HTTP 502` or the Python exception's name such as ConnectionRefusedError or IncompleteRead, with their counts);
 * at the end {total: {...}}, counted apart from the seconds. It stops when the stop file appears, or after maxSeconds, or when its output is gone.
 */
export const SAMPLER = String.raw`
import http.client, json, os, sys, threading, time
from urllib.parse import urlsplit
url, conc, stop, maxsec = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
u = urlsplit(url)
host, port, path = u.hostname, u.port or 80, (u.path or '/') + ('?' + u.query if u.query else '')
lock = threading.Lock()
cur = {'ok': 0, 'non2xx': 0, 'failed': 0, 'lat': [], 'why': {}}
tot = {'ok': 0, 'non2xx': 0, 'failed': 0}
done = threading.Event()
def client():
    while not done.is_set():
        t = time.monotonic()
        kind, why = 'failed', None
        try:
            c = http.client.HTTPConnection(host, port, timeout=30)
            c.request('GET', path, headers={'User-Agent': 'chaos-lab-load'})
            r = c.getresponse()
            r.read()
            c.close()
            kind = 'ok' if 200 <= r.status < 300 else 'non2xx'
            if kind == 'non2xx':
                why = 'HTTP %d' % r.status
        except Exception as e:
            why = type(e).__name__
            time.sleep(0.01)
        ms = (time.monotonic() - t) * 1000
        with lock:
            cur[kind] += 1
            tot[kind] += 1
            if kind == 'ok':
                cur['lat'].append(round(ms, 1))
            else:
                cur['why'][why] = cur['why'].get(why, 0) + 1
def emit(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()
try:
    emit({'start': time.time(), 'concurrency': conc})
    t0 = time.monotonic()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(conc)]
    for th in threads:
        th.start()
    s = 0
    while True:
        while time.monotonic() < t0 + s + 1 and not os.path.exists(stop):
            time.sleep(0.05)
        stopping = os.path.exists(stop) or time.monotonic() - t0 > maxsec
        if stopping:
            done.set()
            for th in threads:
                th.join(35)
        with lock:
            line = {'s': s, 'ok': cur['ok'], 'non2xx': cur['non2xx'], 'failed': cur['failed'], 'lat': cur['lat']}
            if cur['why']:
                line['why'] = cur['why']
            cur.update({'ok': 0, 'non2xx': 0, 'failed': 0, 'lat': [], 'why': {}})
        emit(line)
        s += 1
        if stopping:
            break
    with lock:
        emit({'total': dict(tot)})
finally:
    try:
        os.remove(stop)
    except OSError:
        pass
`

/** The command that runs the sampler in the machine, bounded by `timeout` even if chaos-lab's connection drops. */
export function samplerCommand(spec: LoadSpec, stopFile: string): string {
  const bound = Math.ceil(spec.maxSeconds + 30)
  return `timeout ${bound} python3 -u -c ${shellQuote(SAMPLER)} ${shellQuote(spec.url)} ${spec.concurrency} ${shellQuote(stopFile)} ${spec.maxSeconds}`
}

/** The command that runs the experiment's load generator: chaos-lab's sampler, or the book's ab (load-ab.ts). */
export function loadCommand(spec: LoadSpec, stopFile: string): string {
  return spec.generator === 'ab' ? abCommand(spec, stopFile) : samplerCommand(spec, stopFile)
}

/** What one line of the sampler says. */
export type SamplerLine =
  | {kind: 'start'; epoch: number}
  | {kind: 'second'; second: LoadSecond}
  | {kind: 'total'; totals: LoadTotals}
  | {kind: 'other'; text: string}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null
  return Math.round(quantileSorted(sorted, p) * 10) / 10
}

const count = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : 0)

/** A second's `why`: what its errors were (a status or an exception's name) → how many; undefined when none. */
function whyOf(value: unknown): Record<string, number> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([reason, n]) => /^[\w .:-]{1,60}$/.test(reason) && count(n) > 0)
    .map(([reason, n]) => [reason, count(n)] as const)
  return entries.length > 0 ? Object.fromEntries(entries) : undefined
}

/** The errors of some seconds by what they were, most frequent first: "IncompleteRead 2, HTTP 502 1". */
export function whySummary(seconds: readonly LoadSecond[]): string {
  const all = new Map<string, number>()
  for (const s of seconds) for (const [reason, n] of Object.entries(s.why ?? {})) all.set(reason, (all.get(reason) ?? 0) + n)
  return [...all].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([reason, n]) => `${reason} ${n}`).join(', ')
}

/** Parses one line of the sampler's output; p50/p95 computed here from that second's latencies. */
export function parseSamplerLine(line: string): SamplerLine {
  let data: unknown
  try {
    data = JSON.parse(line)
  } catch {
    return {kind: 'other', text: line}
  }
  if (typeof data !== 'object' || data === null) return {kind: 'other', text: line}
  const record = data as Record<string, unknown>
  if (typeof record.start === 'number') return {kind: 'start', epoch: record.start}
  if (typeof record.total === 'object' && record.total !== null) {
    const total = record.total as Record<string, unknown>
    const [ok, non2xx, failed] = [count(total.ok), count(total.non2xx), count(total.failed)]
    return {kind: 'total', totals: {requests: ok + non2xx + failed, ok, non2xx, failed}}
  }
  if (typeof record.s === 'number') {
    const latencies = (Array.isArray(record.lat) ? record.lat : []).filter((v): v is number => typeof v === 'number').sort((a, b) => a - b)
    const why = whyOf(record.why)
    return {
      kind: 'second',
      second: {t: count(record.s), ok: count(record.ok), non2xx: count(record.non2xx), failed: count(record.failed), p50: percentile(latencies, 0.5), p95: percentile(latencies, 0.95), ...(why ? {why} : {})},
    }
  }
  return {kind: 'other', text: line}
}

/** The sum of the per-second figures (what the chart shows), to hold against the generator's own totals. */
export function sumSeconds(seconds: readonly LoadSecond[]): LoadTotals {
  const sum = {requests: 0, ok: 0, non2xx: 0, failed: 0}
  for (const s of seconds) {
    sum.ok += s.ok
    sum.non2xx += s.non2xx
    sum.failed += s.failed
  }
  sum.requests = sum.ok + sum.non2xx + sum.failed
  return sum
}
