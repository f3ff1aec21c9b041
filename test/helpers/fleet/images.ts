/**
 * Root file systems for many systemd-nspawn containers at once (the fleet e2e test and `npm run bench fleet`),
 * derived from the harness's test image and cached next to it (test/helpers/vm/image.ts's cache directory).
 *
 * - aptSeededImage(): the test image plus, in its read-only lower layer, every .deb that provisioning installs
 *   and the package lists they were resolved from. That is the apt archive cache the containers share: the
 *   harness takes no bind mounts, and one shared read-write /var/cache/apt/archives would serialize the
 *   containers' apt runs anyway (apt holds archives/lock for a whole install). Each container reads the debs
 *   from the shared lower layer and writes only to its own overlay. The mirror is contacted once per cache
 *   (one downloader container); the fleet's containers need no route to the outside.
 * - packagesImage(): the apt-seeded image with those packages installed (in one container, from the seeded
 *   archive): targets that still run every provisioning step, minus dpkg's work.
 * - provisionedImage(): the packages image after a real `chaos-lab provision` of one container (for the
 *   bench: 16 already-provisioned targets in seconds).
 *
 * startContainer() takes them as an ordinary TestImage whose rootfsDir points at the derived tree (same key
 * pair, same host keys).
 */
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {runCli, ROOT} from '../cli.js'
import {cachedBuild, sweepCache, touchLastUsed} from '../vm/cache-build.js'
import type {TestImage} from '../vm/image.js'
import {testCacheDir} from '../vm/image.js'
import {startContainer, type Container} from '../vm/nspawn.js'
import {listDir, removeTreeSync, runOk} from '../vm/run.js'

/** Bumped by hand when what goes into a derived tree changes in a way the inputs below do not show. */
const FORMAT = 1
const LOCK_WAIT_MS = 20 * 60_000
/** Derived trees not used for this long are removed when another one is built. */
const PRUNE_AFTER_MS = 60 * 60_000

/** Where provisioning's steps keep the time of their last `apt-get update` (provisioning/lib/common.sh). */
export const APT_STAMP = '/var/lib/chaos-lab/apt-update.stamp'

export interface DerivedImage extends TestImage {
  /** The test image this tree was made from. */
  baseKey: string
  /** Seconds the derived tree took to make (recorded when it was built). */
  deriveSeconds: number
}

/**
 * The Debian packages the headless profile's steps name: BASH arrays named *PACKAGES and literal
 * `apt_install` arguments in provisioning/steps (the desktop step installs nothing when headless). Of the
 * chapter steps (chapterN), only those of `chapters` (default: chapter 2, what the fleet and the libvirt box
 * provision with --chapters 2).
 */
export function provisioningPackages(root = ROOT, chapters: readonly number[] = [2]): string[] {
  const stepsDir = path.join(root, 'provisioning', 'steps')
  const chapterOf = (step: string) => /^chapter(\d+)$/.exec(step)?.[1]
  const order = readFileSync(path.join(stepsDir, 'ORDER'), 'utf8').split('\n').map((line) => line.trim())
    .filter((line) => line && line !== 'desktop')
    .filter((line) => chapterOf(line) === undefined || chapters.includes(Number(chapterOf(line))))
  const packages = new Set<string>()
  const word = /^[a-z0-9][a-z0-9+.-]+$/
  for (const step of order) {
    const text = readFileSync(path.join(stepsDir, `${step}.sh`), 'utf8')
    for (const match of text.matchAll(/^[A-Z_]*PACKAGES=\(([^)]*)\)/gm)) {
      for (const name of (match[1] ?? '').split(/\s+/)) if (word.test(name)) packages.add(name)
    }
    for (const match of text.matchAll(/^\s*apt_install ([^\n$"]+)$/gm)) {
      for (const name of (match[1] ?? '').split(/\s+/)) if (word.test(name)) packages.add(name)
    }
  }
  if (packages.size === 0) throw new Error(`found no package names in ${stepsDir}: has the steps' format changed?`)
  return [...packages].sort()
}

/** sha256 of every file under a directory (names and contents), for cache keys. */
function hashTree(dir: string): string {
  const hash = createHash('sha256')
  const visit = (current: string, depth: number) => {
    if (depth > 8) return
    for (const entry of readdirSync(current, {withFileTypes: true}).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(current, entry.name)
      if (entry.isDirectory()) visit(full, depth + 1)
      else if (entry.isFile()) hash.update(path.relative(dir, full)).update('\0').update(readFileSync(full)).update('\0')
    }
  }
  visit(dir, 0)
  return hash.digest('hex')
}

interface Manifest {
  key: string
  baseKey: string
  deriveSeconds: number
  builtAt: string
  packages?: string[]
}

function derived(base: TestImage, dir: string): DerivedImage {
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest
  touchLastUsed(dir)
  return {...base, key: manifest.key, rootfsDir: path.join(dir, 'rootfs'), built: false, baseKey: base.key, deriveSeconds: manifest.deriveSeconds}
}

/**
 * Returns the derived tree `kind`-KEY, making it with `make(buildDir)` first when the cache has none.
 * `make` fills buildDir/rootfs; the result is renamed into place only when complete.
 */
async function ensureDerived(
  base: TestImage,
  kind: 'apt' | 'packages' | 'provisioned',
  inputs: unknown,
  log: (line: string) => void,
  make: (buildDir: string) => Promise<Partial<Manifest>>,
): Promise<DerivedImage> {
  const key = createHash('sha256').update(JSON.stringify({format: FORMAT, base: base.key, kind, inputs})).digest('hex').slice(0, 16)
  const cacheDir = testCacheDir()
  const name = `fleet-${kind}-${key}`
  return cachedBuild({
    cacheDir,
    name,
    buildName: `.fleet-build-${key}-${process.pid}`,
    lock: {
      waitMs: LOCK_WAIT_MS,
      pollMs: 1000,
      maxAttempts: LOCK_WAIT_MS / 1000 + 10,
      onWait: (owner) => {
        log(`fleet image: process ${owner} is making it; waiting`)
      },
      timeoutMessage: (_owner, lockPath) => `Timed out waiting for ${lockPath}.`,
    },
    isComplete: (finalDir) => existsSync(path.join(finalDir, 'manifest.json')) && existsSync(path.join(finalDir, 'rootfs', 'etc', 'os-release')),
    fromCache: (finalDir) => derived(base, finalDir),
    beforeBuild: () => {
      sweepCache(cacheDir, {build: /^\.fleet-build-[0-9a-f]+-(\d+)$/, result: /^fleet-(?:apt|packages|provisioned)-[0-9a-f]{16}$/, keep: name, pruneAfterMs: PRUNE_AFTER_MS, label: 'fleet image', log})
    },
    build: async (buildDir, started) => {
      const extra = await make(buildDir)
      const manifest: Manifest = {key, baseKey: base.key, deriveSeconds: Math.round((Date.now() - started) / 1000), builtAt: new Date().toISOString(), ...extra}
      writeFileSync(path.join(buildDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
      writeFileSync(path.join(buildDir, 'last-used'), '')
      return manifest
    },
    fromBuild: (finalDir, manifest) => {
      log(`fleet image: made ${name} in ${manifest.deriveSeconds} s`)
      return {...derived(base, finalDir), built: true}
    },
  })
}

/** A copy of a root file system, ownership, modes, links and special files kept. */
async function copyTree(from: string, to: string): Promise<void> {
  mkdirSync(to, {recursive: true})
  await runOk('cp', ['-a', '--reflink=auto', `${from}/.`, to], {timeoutMs: 10 * 60_000})
}

async function sshOk(container: Container, command: string, timeoutMs = 120_000): Promise<string> {
  const result = await container.ssh(command, {timeoutMs})
  if (result.code !== 0) throw new Error(`${container.name}: \`${command}\` exited ${result.code ?? 'on timeout'}:\n${result.stderr}${result.stdout}`.slice(0, 4000))
  return result.stdout
}

/**
 * The test image with the packages provisioning installs already downloaded into /var/cache/apt/archives
 * and the package lists they were resolved from in /var/lib/apt/lists (one container with a route to the
 * host's mirror does the download, once per cache key).
 */
export async function aptSeededImage(base: TestImage, options: {log?: (line: string) => void} = {}): Promise<DerivedImage> {
  const log = options.log ?? (() => undefined)
  const packages = provisioningPackages()
  return ensureDerived(base, 'apt', {packages}, log, async (buildDir) => {
    log(`fleet image: downloading ${packages.length} packages and their dependencies in one container`)
    const downloader = await startContainer({image: base, name: 'fleet-apt', memoryMb: 512, internet: true})
    const rootfs = path.join(buildDir, 'rootfs')
    try {
      await sshOk(downloader, 'sudo -n env DEBIAN_FRONTEND=noninteractive apt-get -q update', 5 * 60_000)
      await sshOk(
        downloader,
        `sudo -n env DEBIAN_FRONTEND=noninteractive apt-get -q -y -d --no-install-recommends install ${packages.join(' ')}`,
        10 * 60_000,
      )
      await copyTree(base.rootfsDir, rootfs)
      // The container's root as the host sees it (its overlay mount): the downloads and the refreshed lists.
      const inside = path.join(downloader.dir, 'root')
      await runOk('sh', ['-c', 'cp -a "$1"/var/cache/apt/archives/*.deb "$2"/var/cache/apt/archives/', 'sh', inside, rootfs], {timeoutMs: 5 * 60_000})
      removeTreeSync(path.join(rootfs, 'var/lib/apt/lists'))
      await copyTree(path.join(inside, 'var/lib/apt/lists'), path.join(rootfs, 'var/lib/apt/lists'))
      rmLock(path.join(rootfs, 'var/lib/apt/lists/lock'))
      rmLock(path.join(rootfs, 'var/cache/apt/archives/lock'))
    } finally {
      await downloader.stop()
    }
    const debs = listDir(path.join(rootfs, 'var/cache/apt/archives')).filter((file) => file.endsWith('.deb'))
    if (debs.length === 0) throw new Error('the download container fetched no .deb files')
    log(`fleet image: ${debs.length} .deb files seeded`)
    return {packages}
  })
}

function rmLock(file: string): void {
  try {
    unlinkSync(file)
  } catch {
    // None.
  }
}

/** Before provisioning a container of aptSeededImage(): its package lists count as fresh, so no step runs
 * `apt-get update` (the container has no route to a mirror; the lists came with the debs). */
export async function markAptListsFresh(container: Container): Promise<void> {
  await sshOk(container, `sudo -n mkdir -p ${path.dirname(APT_STAMP)} && sudo -n touch ${APT_STAMP}`)
}

/**
 * The apt-seeded image with provisioning's packages installed (apt-get in one container, from the seeded
 * archive, no route out): containers of it still run every provisioning step, but apt_install finds its
 * packages present. What that saves is dpkg's work in every target (about 30 CPU-seconds each), not any of
 * chaos-lab's.
 */
export async function packagesImage(base: TestImage, options: {log?: (line: string) => void} = {}): Promise<DerivedImage> {
  const log = options.log ?? (() => undefined)
  const seeded = await aptSeededImage(base, {log})
  const packages = provisioningPackages()
  return ensureDerived(base, 'packages', {seeded: seeded.key, packages}, log, async (buildDir) => {
    log('fleet image: installing the packages in one container to copy')
    const container = await startContainer({image: seeded, name: 'fleet-pkgs', memoryMb: 1024})
    try {
      await sshOk(
        container,
        `sudo -n env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends install ${packages.join(' ')}`,
        15 * 60_000,
      )
      await copyRunningRoot(container, path.join(buildDir, 'rootfs'))
    } finally {
      await container.stop()
    }
    return {packages}
  })
}

/**
 * The packages image after a real `chaos-lab provision` (headless) of one container: every later container
 * starts provisioned (the bench's 16 targets). Keyed on the provisioning folder's contents too.
 */
export async function provisionedImage(base: TestImage, options: {log?: (line: string) => void} = {}): Promise<DerivedImage> {
  const log = options.log ?? (() => undefined)
  const packages = await packagesImage(base, {log})
  return ensureDerived(base, 'provisioned', {packages: packages.key, provisioning: hashTree(path.join(ROOT, 'provisioning'))}, log, async (buildDir) => {
    log('fleet image: provisioning one container to copy')
    const container = await startContainer({image: packages, name: 'fleet-prov', memoryMb: 1024})
    try {
      const inventory = path.join(buildDir, 'one.ini')
      writeFileSync(inventory, `fleet-prov ansible_host=${container.host} ansible_user=${container.user} ansible_ssh_private_key_file=${container.identityFile}\n`)
      const env = {XDG_CONFIG_HOME: path.join(buildDir, 'config'), CI: process.env.CI ?? ''}
      const result = await runCli(['provision', '--inventory', inventory, '--chapters', '2', '--json'], {env, timeoutMs: 20 * 60_000})
      if (result.code !== 0) throw new Error(`provision exited ${result.code}: ${result.stdout.slice(0, 3000)}${result.stderr.slice(-3000)}`)
      await copyRunningRoot(container, path.join(buildDir, 'rootfs'))
    } finally {
      await container.stop()
    }
    return {}
  })
}

/**
 * Copies a running container's root as the host sees it (its overlay mount: no /proc, /run or /tmp of the
 * container's own), after a sync inside. Nothing installs any more at that point; services' logs may be
 * mid-write, which a later boot copes with.
 */
async function copyRunningRoot(container: Container, to: string): Promise<void> {
  await sshOk(container, 'sync')
  await copyTree(path.join(container.dir, 'root'), to)
}
