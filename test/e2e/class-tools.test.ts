/**
 * An instructor's tools for a class, on real parts (issue 15):
 *
 * 1. One package cache for a class (`aptProxy:`). A real apt-cacher-ng (Debian's package, run by this test with a
 *    configuration of its own, in a scratch folder) listens only on the host's ends of two containers' veth links.
 *    Two systemd-nspawn containers of the bare test image (no provisioning package installed) are provisioned by
 *    the built chaos-lab, one after the other, from lab folders whose chaos-lab.yaml names the cache as aptProxy.
 *    apt-cacher-ng's own figures — its transfer log (one line per file fetched from the archive, `I`, and per file
 *    served, `O`, with the client's address) and the hit/miss table of its report page — show the second container
 *    fetching (almost) nothing from the archive. The cache reaches the mirror the containers' apt sources name
 *    (the host's own, read at run time by the image build; nothing here names one). Then aptProxy is emptied and
 *    a rerun of provisioning removes the apt setting again.
 * 2. `chaos-lab export ansible DIR`, from a lab folder that selects chapter 2 (the playbook provisions exactly the
 *    lab's chapters). Debian's ansible-core runs the exported playbook against two containers of the
 *    fleet e2e's kind (test/helpers/fleet: the packages tree, so apt finds its packages present and every step
 *    still runs), from an INI inventory. Then `chaos-lab check lesson-1 --inventory` passes on both, the answer
 *    sheet and the lesson's start mark are there as chaos-lab writes them, a second ansible-playbook run reports
 *    changed=0, and `chaos-lab provision --inventory` finds nothing to do (chaos-lab and Ansible take turns).
 *
 * Cost: each cache container installs provisioning's packages for real (dpkg's work, ~1 min each on 2 cores); the
 * packages tree is the fleet e2e's (built once per cache key by whichever file runs first).
 * CI (CI=true) fails instead of skipping when root, systemd-nspawn, apt-cacher-ng or ansible-playbook is missing.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {spawnSync} from 'node:child_process'
import {closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {availableParallelism, tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {isolatedEnv, ROOT, runCli} from '../helpers/cli.js'
import {startFleet, stopFleet, writeIniInventory} from '../helpers/fleet/fleet.js'
import {packagesImage} from '../helpers/fleet/images.js'
import {phaseLog} from '../helpers/phases.js'
import {ensureTestImage, hostMirror, requireContainers, requireTools, startContainer, type Container, type TestImage} from '../helpers/vm/index.js'
import {sleep, which} from '../helpers/vm/run.js'

const skip = requireContainers() ?? requireTools(['apt-cacher-ng', 'ansible-playbook'])
if (skip) console.warn(`class-tools e2e: skipped: ${skip}`)

const fileStarted = Date.now()
const {say, phase} = phaseLog('class-tools e2e')
const MB = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/**
 * A free TCP port below 32768: apt-cacher-ng 3.7 refuses to bind a higher one ("Error resolving address for
 * binding"), so the kernel's ephemeral range is no use. Random picks, each tried on loopback; bounded.
 */
async function freeLowPort(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer()
      server.once('error', () => { resolve(false) })
      server.listen(port, '0.0.0.0', () => { server.close(() => { resolve(true) }) })
    })
    if (free) return port
  }
  throw new Error('no free port between 20000 and 32000 in 50 tries')
}

/** apt-cacher-ng run by this test: its own configuration, cache and logs in a scratch folder; foreground; bounded. */
class AptCacher {
  readonly dir = mkdtempSync(join(tmpdir(), 'chaos-lab-acng-15-'))
  private child: ChildProcess | undefined

  constructor(readonly bindAddresses: readonly string[], readonly port: number) {}

  get logFile(): string {
    return join(this.dir, 'log', 'apt-cacher.log')
  }

  async start(): Promise<void> {
    for (const sub of ['conf', 'cache', 'log']) mkdirSync(join(this.dir, sub))
    // No Remap rules: a plain caching proxy for whatever archive the client names (the host's mirror).
    writeFileSync(join(this.dir, 'conf', 'acng.conf'), [
      `CacheDir: ${join(this.dir, 'cache')}`,
      `LogDir: ${join(this.dir, 'log')}`,
      'SupportDir: /usr/lib/apt-cacher-ng',
      `Port: ${this.port}`,
      `BindAddress: ${this.bindAddresses.join(' ')}`,
      'ReportPage: acng-report.html',
      'ForeGround: 1',
      '',
    ].join('\n'))
    const output = openSync(join(this.dir, 'output.log'), 'w')
    this.child = spawn(which('apt-cacher-ng') ?? 'apt-cacher-ng', ['-c', join(this.dir, 'conf')], {stdio: ['ignore', output, output]})
    closeSync(output)
    for (let i = 0; i < 100; i++) {
      const page = await this.report().catch(() => '')
      if (page.includes('Apt-Cacher NG')) return
      if (this.child.exitCode !== null) break
      await sleep(100)
    }
    throw new Error(`apt-cacher-ng did not answer on ${this.bindAddresses[0]}:${this.port} (exit ${this.child.exitCode}): ${readFileSync(join(this.dir, 'output.log'), 'utf8').trim()}`)
  }

  async report(count = false): Promise<string> {
    const url = `http://${this.bindAddresses[0]}:${this.port}/acng-report.html${count ? '?doCount=Count+Data' : ''}`
    const response = await fetch(url, {signal: AbortSignal.timeout(10_000)})
    return response.text()
  }

  /** The report page's "Cache efficiency" row (requests: hits, misses, total), read from the current log. */
  async requestFigures(): Promise<{hits: number; misses: number; total: number}> {
    const text = (await this.report(true)).replace(/<[^>]*>/g, ' ').replace(/&nbsp;/g, ' ').replace(/\s+/g, ' ')
    // "PERIOD HITS (x%) MISSES (y%) TOTAL a MiB (..) b MiB (..) c MiB"; the last period row is the newest.
    const rows = [...text.matchAll(/(\d+) \([\d.]+%\) (\d+) \([\d.]+%\) (\d+) [\d.]+ [KMG]?i?B/g)]
    const row = rows.at(-1)
    if (!row) throw new Error(`no hit/miss row on apt-cacher-ng's report page: ${text.slice(0, 400)}`)
    return {hits: Number(row[1]), misses: Number(row[2]), total: Number(row[3])}
  }

  /** Per client address: files and bytes fetched from the archive (I) and served (O), from the transfer log. */
  transfers(client: string): {fetched: number; fetchedBytes: number; served: number; servedBytes: number; paths: string[]} {
    const lines = existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8').split('\n') : []
    const result = {fetched: 0, fetchedBytes: 0, served: 0, servedBytes: 0, paths: [] as string[]}
    for (const line of lines) {
      const [, kind, size, from, path] = line.split('|')
      if (from !== client || !path) continue
      if (kind === 'I') {
        result.fetched++
        result.fetchedBytes += Number(size)
      } else if (kind === 'O') {
        result.served++
        result.servedBytes += Number(size)
        result.paths.push(path)
      }
    }
    return result
  }

  async stop(): Promise<void> {
    const child = this.child
    if (child && child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await Promise.race([exited, sleep(10_000)])
      if (child.exitCode === null) child.kill('SIGKILL')
    }
    rmSync(this.dir, {recursive: true, force: true})
  }
}

/**
 * A lab folder for an existing host (provider ssh): chaos-lab.yaml only, as an instructor writes it. Chapter 2
 * only: this file's story is the class tools (the cache, the playbook), not a chapter's material, which
 * test/e2e/chapters-vm covers; every chapter would add minutes of dpkg per container.
 */
function writeLab(dir: string, container: Container, aptProxy: string): void {
  mkdirSync(dir, {recursive: true})
  writeFileSync(join(dir, 'chaos-lab.yaml'), [
    'provider: ssh',
    'profile: headless',
    'chapters: [2]',
    `aptProxy: ${JSON.stringify(aptProxy)}`,
    'ssh:',
    `  host: ${container.host}`,
    '  port: 22',
    '  user: admin',
    `  identityFile: ${container.identityFile}`,
    '',
  ].join('\n'))
}

describe.skipIf(skip !== undefined)('one package cache for a class: aptProxy through a real apt-cacher-ng', () => {
  let image: TestImage
  let containers: Container[] = []
  let cacher: AptCacher | undefined
  let work = ''
  const env = isolatedEnv()

  beforeAll(async () => {
    image = await phase('test image', () => ensureTestImage({log: say}))
    containers = await phase('2 containers of the bare image', () => Promise.all(['cache-a-15', 'cache-b-15'].map((name) => startContainer({image, name, memoryMb: 768}))))
    cacher = new AptCacher(containers.map((container) => container.gateway), await freeLowPort())
    await phase('apt-cacher-ng', () => cacher!.start())
    work = mkdtempSync(join(tmpdir(), 'chaos-lab-class-15-'))
  }, 30 * 60_000)

  afterAll(async () => {
    await Promise.all(containers.map((container) => container.stop()))
    await cacher?.stop()
    if (work) rmSync(work, {recursive: true, force: true})
    rmSync(dirname(env.XDG_CONFIG_HOME!), {recursive: true, force: true})
  }, 120_000)

  it('the second container provisions through the cache and fetches (almost) nothing from the archive', async () => {
    const figures: Array<{name: string; ms: number; fetched: number; fetchedBytes: number; served: number; servedBytes: number; hits: number; misses: number; apt: string}> = []
    let before = {hits: 0, misses: 0, total: 0}
    for (const container of containers) {
      const proxy = `http://${container.gateway}:${cacher!.port}`
      const lab = join(work, container.name)
      writeLab(lab, container, proxy)
      const result = await phase(`provision ${container.name} through ${proxy}`, () => runCli(['provision', '--dir', lab, '--json'], {env, timeoutMs: 15 * 60_000}))
      expect(result.code, result.stdout + result.stderr).toBe(0)
      expect(result.json.steps.map((step: {name: string; status: string}) => `${step.name}:${step.status}`)).toEqual(['base:done', 'desktop:done', 'chapter2:done'])
      // apt in the VM reads the proxy from one file, and nothing else in /etc names it (no http_proxy for other programs).
      const conf = await container.ssh(`apt-config dump Acquire::http::Proxy; sudo -n grep -rlsF '${container.gateway}:${cacher!.port}' /etc`)
      expect(conf.stdout.trim().split('\n')).toEqual([`Acquire::http::Proxy "${proxy}";`, '/etc/apt/apt.conf.d/01chaos-lab-proxy'])
      const after = await cacher!.requestFigures()
      const t = cacher!.transfers(container.host)
      // apt's own download figures ("Fetched 86.7 MB in 3s (28.0 MB/s)"): the part of provisioning a cache can speed up.
      const fetchedLines = await container.ssh("sudo -n grep -h '^Fetched ' /var/log/chaos-lab/apt.log || true")
      const apt = fetchedLines.stdout.trim().split('\n').filter(Boolean).join('; ')
      figures.push({name: container.name, ms: result.json.durationMs as number, ...t, hits: after.hits - before.hits, misses: after.misses - before.misses, apt})
      before = after
    }
    for (const f of figures) {
      say(`${f.name}: provisioned in ${seconds(f.ms)}; apt-cacher-ng served ${f.served} files (${MB(f.servedBytes)}), fetched ${f.fetched} from the archive (${MB(f.fetchedBytes)}); report page: ${f.hits} hits, ${f.misses} misses; apt: ${f.apt}`)
    }
    const [first, second] = figures as [typeof figures[0], typeof figures[0]]
    say(`second against first: ${(second.ms / first.ms * 100).toFixed(0)}% of the provisioning time, ${(second.fetchedBytes / first.fetchedBytes * 100).toFixed(1)}% of the bytes from the archive`)
    // The first filled the cache from the archive: packages (gcc, nginx, …) worth tens of MB, every one a miss.
    expect(first.fetchedBytes).toBeGreaterThan(20e6)
    expect(first.misses).toBeGreaterThan(20)
    // The second got the same packages, from the cache: only the archive's signed release files (InRelease,
    // which apt-cacher-ng always checks with the archive) are fetched again.
    expect(second.servedBytes).toBeGreaterThan(0.9 * first.servedBytes)
    expect(second.fetchedBytes).toBeLessThan(0.02 * first.fetchedBytes)
    expect(second.hits).toBeGreaterThan(20)
    expect(second.misses).toBeLessThanOrEqual(5)
    // Through the mirror the containers' apt sources name, which the image build read from this host's.
    const mirrorHost = new URL(hostMirror().mirror).host
    expect(cacher!.transfers(containers[0]!.host).paths.some((path) => path.startsWith(`${mirrorHost}/`))).toBe(true)
  }, 32 * 60_000)

  it('aptProxy emptied: the next provision reruns only base, which removes the apt setting', async () => {
    const container = containers[0]!
    const lab = join(work, container.name)
    writeLab(lab, container, '')
    const result = await runCli(['provision', '--dir', lab, '--json'], {env, timeoutMs: 5 * 60_000})
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.json.steps.map((step: {name: string; status: string}) => `${step.name}:${step.status}`)).toEqual(['base:done', 'desktop:skipped', 'chapter2:skipped'])
    say(`aptProxy emptied: provision in ${seconds(result.json.durationMs as number)}`)
    const check = await container.ssh('test -e /etc/apt/apt.conf.d/01chaos-lab-proxy && echo present || echo absent; apt-config dump Acquire::http::Proxy')
    expect(check.stdout.trim()).toBe('absent')
  }, 6 * 60_000)
})

/** ansible-playbook from the exported folder, its state kept in `home`; returns the PLAY RECAP per host. */
function ansiblePlaybook(inventory: string, playbook: string, home: string) {
  const started = Date.now()
  const result = spawnSync('ansible-playbook', ['-i', inventory, playbook], {
    encoding: 'utf8',
    timeout: 15 * 60_000,
    env: {
      ...process.env,
      ANSIBLE_HOME: home,
      ANSIBLE_LOCAL_TEMP: join(home, 'tmp'),
      ANSIBLE_SSH_CONTROL_PATH_DIR: join(home, 'cp'),
      ANSIBLE_HOST_KEY_CHECKING: 'False',
      ANSIBLE_SSH_ARGS: '-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null',
      ANSIBLE_PYTHON_INTERPRETER: 'auto_silent',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_RETRY_FILES_ENABLED: 'False',
    },
  })
  const recap: Record<string, Record<string, number>> = {}
  for (const match of (result.stdout ?? '').matchAll(/^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$/gm)) {
    recap[match[1]!] = Object.fromEntries([...match[2]!.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]))
  }
  return {status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}`, recap, ms: Date.now() - started}
}

describe.skipIf(skip !== undefined)('chaos-lab export ansible: Debian\'s ansible-core provisions the class, chaos-lab checks it', () => {
  const NAMES = ['ansible-a-15', 'ansible-b-15']
  const MEMORY_MB = 512
  const cpus = Math.min(2, availableParallelism())
  let containers: Container[] = []
  let work = ''
  let inventory = ''
  let playbook = ''
  let lab = ''
  const env = isolatedEnv()
  const PRISTINE_ANSWERS = readFileSync(join(ROOT, 'provisioning/files/answers/lesson-2.yaml'), 'utf8')

  beforeAll(async () => {
    const image = await ensureTestImage({log: say})
    const tree = await phase('the fleet\'s packages tree', () => packagesImage(image, {log: say}))
    containers = await phase('2 containers of the packages tree', () => startFleet(tree, NAMES, MEMORY_MB, cpus))
    work = mkdtempSync(join(tmpdir(), 'chaos-lab-ansible-15-'))
    inventory = join(work, 'class.ini')
    writeIniInventory(inventory, {class15: containers}, {user: 'admin', identityFile: image.privateKeyPath})
    // The class's lab folder selects chapter 2 (see writeLab): the playbook provisions that chapter and no other.
    lab = join(work, 'lab')
    mkdirSync(lab)
    writeFileSync(join(lab, 'chaos-lab.yaml'), 'provider: ssh\nssh: {host: 192.0.2.1, user: admin, identityFile: unused}\nchapters: [2]\n')
    const exported = await runCli(['export', 'ansible', join(work, 'playbook'), '--dir', lab, '--json'], {env})
    expect(exported.code, exported.stdout + exported.stderr).toBe(0)
    expect(exported.json.chapters).toEqual([2])
    expect(exported.json.steps.map((step: {name: string}) => step.name)).toEqual(['base', 'desktop', 'chapter2'])
    playbook = exported.json.playbook as string
    say(`exported ${exported.json.files.length} files: steps ${exported.json.steps.map((step: {name: string; hash: string}) => `${step.name}@${step.hash}`).join(', ')}`)
  }, 40 * 60_000)

  afterAll(() => stopFleet(containers, work, env), 120_000)

  it('ansible-playbook provisions both hosts; check lesson-1 passes on each; a second run changes nothing; chaos-lab agrees', async () => {
    const first = await phase('ansible-playbook, first run', () => Promise.resolve(ansiblePlaybook(inventory, playbook, join(work, 'ansible-home'))))
    expect(first.status, first.output).toBe(0)
    for (const name of NAMES) expect(first.recap[name], first.output).toMatchObject({changed: 4, failed: 0, unreachable: 0})

    const size = ['--memory', String(MEMORY_MB), '--cpus', String(cpus)]
    const check = await phase('check lesson-1 --inventory', () => runCli(['check', 'lesson-1', '--inventory', inventory, ...size, '--json'], {env, timeoutMs: 300_000}))
    expect(check.code, JSON.stringify(check.json?.hosts ?? check.stderr, null, 1)).toBe(0)
    expect(check.json.summary).toEqual({total: 2, ok: 2, unreachable: 0, error: 0})
    for (const host of check.json.hosts) expect(host.result.summary).toEqual({total: 11, pass: 11, fail: 0, blocked: 0, error: 0})

    for (const container of containers) {
      // The answer sheet and the lesson's start mark, as chaos-lab's provisioning writes them.
      const marks = await container.ssh('sudo -n cat /home/chaos/answers/lesson-2.yaml; echo "--"; sudo -n stat -c "%U %a" /home/chaos/answers/lesson-2.yaml; cat /var/lib/chaos-lab/lessons/lesson-2.started')
      const [sheet = '', rest = ''] = marks.stdout.split('--\n')
      expect(sheet).toBe(PRISTINE_ANSWERS)
      const [owner = '', started = ''] = rest.trim().split('\n')
      expect(owner).toBe('chaos 644')
      expect(Number(started)).toBeGreaterThan(Date.now() / 1000 - 3600)
    }

    const second = await phase('ansible-playbook, second run', () => Promise.resolve(ansiblePlaybook(inventory, playbook, join(work, 'ansible-home'))))
    expect(second.status, second.output).toBe(0)
    for (const name of NAMES) expect(second.recap[name], second.output).toMatchObject({changed: 0, failed: 0, unreachable: 0})
    say(`ansible-playbook: first run ${seconds(first.ms)} (${JSON.stringify(first.recap)}), second ${seconds(second.ms)} (${JSON.stringify(second.recap)})`)

    // The same stamps: chaos-lab finds nothing to do where Ansible provisioned.
    const provision = await phase('chaos-lab provision --inventory after Ansible', () => runCli(['provision', '--inventory', inventory, '--dir', lab, '--json'], {env, timeoutMs: 300_000}))
    expect(provision.code, provision.stdout + provision.stderr).toBe(0)
    for (const host of provision.json.hosts) {
      expect(host.result).toMatchObject({changed: false, uploaded: false})
      expect(host.result.steps.map((step: {status: string}) => step.status)).toEqual(['skipped', 'skipped', 'skipped'])
    }
  }, 30 * 60_000)
})

afterAll(() => {
  say(`the whole file took ${seconds(Date.now() - fileStarted)}`)
})
