import {createHash} from 'node:crypto'
import {appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {cachedBuild, sweepCache, touchLastUsed} from './cache-build.js'
import {PREINSTALL, preinstallPackages} from './chroot-install.js'
import {testCacheDir, type TestImage} from './image.js'
import {readTail, removeTreeSync, run, runOk} from './run.js'

/**
 * A test image with Debian packages already in it: the harness's test image (image.ts) plus `packages`, installed
 * in a chroot over an overlay of its tree (natively for amd64; through qemu-user-static for arm64, which is still
 * far faster than apt under qemu-system's TCG). Provisioning still runs every step on it; apt_install just finds
 * its packages present. QEMU only (no tree for systemd-nspawn is kept): a raw ext4 disk.img, booted like the base
 * image (direct kernel boot, the base image's kernel, initrd and key).
 *
 * Cached in <test cache>/<label>-<key>/, keyed on the base image, the packages and the disk size, built under a
 * lock; images of the same label unused for 6 hours are removed when another one is built.
 */

/** Bumped by hand when the image's layout changes in a way the inputs below do not show. */
const FORMAT = 1
const LOCK_WAIT_MS = 40 * 60_000
const BUILD_TIMEOUT_MS = 35 * 60_000
const PRUNE_AFTER_MS = 6 * 60 * 60_000

/**
 * For the chroot's apt: dpkg without an fsync per file (as the base image's build; a failed build is thrown
 * away), and man-db's index left to its daily job instead of its trigger (minutes for GNOME's man pages).
 */
const FAST_DPKG = {DPKG_FORCE: 'security-mac,downgrade,unsafe-io'}
const NO_MANDB_TRIGGER = 'echo "man-db man-db/auto-update boolean false" | debconf-set-selections'

/** A bootable image for bootVm() (no rootfs tree for systemd-nspawn). */
export interface PreinstalledImage extends Omit<TestImage, 'rootfsDir'> {
  baseKey: string
  /** Every package asked for. */
  packages: string[]
  /** Bytes the root file system takes (the disk image's used blocks). */
  usedBytes: number
}

export interface PreinstalledImageSpec {
  /** Names the cache entry and the log lines: `desktop`, `arm64-lab`. */
  label: string
  packages: readonly string[]
  /** The sparse disk's size, e.g. 8G. */
  diskSize: string
  log?: (line: string) => void
}

interface Manifest {
  key: string
  baseKey: string
  packages: string[]
  buildSeconds: number
  usedBytes: number
  builtAt: string
}

function imageFromDir(base: TestImage, dir: string, built: boolean): PreinstalledImage {
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest
  touchLastUsed(dir)
  return {
    key: manifest.key,
    dir,
    diskPath: path.join(dir, 'disk.img'),
    kernelPath: path.join(dir, 'vmlinuz'),
    initrdPath: path.join(dir, 'initrd.img'),
    privateKeyPath: path.join(dir, 'id_ed25519'),
    publicKeyPath: path.join(dir, 'id_ed25519.pub'),
    suite: base.suite,
    arch: base.arch,
    mirror: base.mirror,
    securityMirror: base.securityMirror,
    built,
    buildSeconds: manifest.buildSeconds,
    baseKey: manifest.baseKey,
    packages: manifest.packages,
    usedBytes: manifest.usedBytes,
  }
}

/**
 * Returns the image made from `base` with spec.packages installed, building it first when the cache has none (an
 * overlay over the base tree, apt in a chroot, mkfs.ext4 -d). Needs root.
 */
export async function ensurePreinstalledImage(base: TestImage, spec: PreinstalledImageSpec): Promise<PreinstalledImage> {
  const log = spec.log ?? (() => undefined)
  const {label, diskSize} = spec
  const packages = [...new Set(spec.packages)].sort()
  const key = createHash('sha256').update(JSON.stringify({format: FORMAT, base: base.key, packages, preinstall: PREINSTALL, fast: [FAST_DPKG, NO_MANDB_TRIGGER], size: diskSize})).digest('hex').slice(0, 16)
  const cacheDir = testCacheDir()
  const name = `${label}-${key}`
  const logPath = path.join(cacheDir, `${name}.build.log`)
  return cachedBuild({
    cacheDir,
    name,
    buildName: `.${label}-build-${key}-${process.pid}`,
    lock: {
      waitMs: LOCK_WAIT_MS,
      pollMs: 2000,
      onWait: (owner) => {
        log(`${label} image: process ${owner} is building it; waiting`)
      },
      timeoutMessage: (owner, lockPath) => `Timed out after ${LOCK_WAIT_MS / 60_000} min waiting for ${lockPath} (held by process ${owner}).`,
    },
    isComplete: (finalDir) => ['manifest.json', 'disk.img', 'vmlinuz', 'initrd.img', 'id_ed25519'].every((file) => existsSync(path.join(finalDir, file))),
    fromCache: (finalDir) => imageFromDir(base, finalDir, false),
    beforeBuild: () => {
      sweepCache(cacheDir, {build: new RegExp(`^\\.${label}-(?:build|tree)-[0-9a-f]+-(\\d+)$`), result: new RegExp(`^${label}-[0-9a-f]{16}$`), keep: name, pruneAfterMs: PRUNE_AFTER_MS, label: `${label} image`, log})
    },
    build: async (buildDir, started) => {
      writeFileSync(logPath, '')
      // The overlay lives beside the build directory: the tree is gigabytes in many files, removed after the
      // build with a time limit of its own (not renamed into the cache).
      const scratch = path.join(cacheDir, `.${label}-tree-${key}-${process.pid}`)
      removeTreeSync(scratch)
      const upper = path.join(scratch, 'upper')
      const work = path.join(scratch, 'work')
      const merged = path.join(scratch, 'root')
      for (const sub of [upper, work, merged]) mkdirSync(sub, {recursive: true})
      log(`${label} image: installing ${packages.length} packages (and their dependencies) into a copy of ${base.key} (log: ${logPath})`)
      const disk = path.join(buildDir, 'disk.img')
      await runOk('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${base.rootfsDir},upperdir=${upper},workdir=${work}`, merged], {timeoutMs: 30_000})
      try {
        try {
          await runOk('chroot', [merged, 'sh', '-c', NO_MANDB_TRIGGER], {timeoutMs: 60_000})
          await preinstallPackages(merged, packages, {timeoutMs: BUILD_TIMEOUT_MS, env: FAST_DPKG, onOutput: (chunk) => { appendFileSync(logPath, chunk) }})
        } catch (error) {
          throw new Error(`Installing the ${label} image's packages failed (full log: ${logPath}):\n${readTail(logPath, 30)}`, {cause: error})
        }
        // QEMU's user network answers DNS at 10.0.2.3 (preinstallPackages left the host's resolv.conf).
        writeFileSync(path.join(merged, 'etc', 'resolv.conf'), 'nameserver 10.0.2.3\n')
        log(`${label} image: packages installed after ${((Date.now() - started) / 1000).toFixed(0)} s; writing the disk`)
        await runOk('truncate', ['-s', diskSize, disk], {timeoutMs: 30_000})
        await runOk('mkfs.ext4', ['-q', '-F', '-L', 'chaos-lab-root', '-d', merged, disk], {timeoutMs: 15 * 60_000})
      } finally {
        await run('umount', [merged], {timeoutMs: 30_000})
        await run('rm', ['-rf', '--one-file-system', scratch], {timeoutMs: 20 * 60_000})
      }
      for (const file of ['vmlinuz', 'initrd.img']) copyFileSync(path.join(base.dir, file), path.join(buildDir, file))
      copyFileSync(base.privateKeyPath, path.join(buildDir, 'id_ed25519'))
      copyFileSync(base.publicKeyPath, path.join(buildDir, 'id_ed25519.pub'))
      const usedBytes = statSync(disk).blocks * 512
      const manifest: Manifest = {key, baseKey: base.key, packages, buildSeconds: Math.round((Date.now() - started) / 1000), usedBytes, builtAt: new Date().toISOString()}
      writeFileSync(path.join(buildDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
      writeFileSync(path.join(buildDir, 'last-used'), '')
      return manifest
    },
    fromBuild: (finalDir, manifest) => {
      log(`${label} image: built ${name} in ${manifest.buildSeconds} s (${(manifest.usedBytes / 2 ** 30).toFixed(2)} GiB used)`)
      return imageFromDir(base, finalDir, true)
    },
  })
}
