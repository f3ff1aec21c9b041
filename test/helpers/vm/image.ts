import {createHash} from 'node:crypto'
import {appendFileSync, existsSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {hostMirror} from './apt-sources.js'
import {cachedBuild, touchLastUsed} from './cache-build.js'
import {isAlive, listDir, readTail, removeTreeSync, runOk} from './run.js'

/** The repository root, computed from this file's place (test/helpers/vm/). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

const BUILD_SCRIPT = path.join(REPO_ROOT, 'scripts/build-test-image.sh')

/** debootstrap --include: what the base system of every test machine carries. */
export const IMAGE_PACKAGES = [
  'systemd-sysv',
  'udev',
  'openssh-server',
  'python3',
  'iproute2',
  'sudo',
  'dbus',
  'libpam-systemd',
  'ca-certificates',
] as const

/** Installed after debootstrap, with initramfs-tools set to MODULES=list (virtio + ext4), gzip. */
export const KERNEL_PACKAGES = ['linux-image-amd64'] as const

/** Sparse: the file takes only the blocks written; room for nginx, gcc, build-essential, man pages. */
export const DISK_SIZE = '4G'

/** Bumped by hand when the image's layout changes in a way the inputs below do not show. */
const FORMAT = 1

const BUILD_TIMEOUT_MS = 30 * 60_000
const LOCK_WAIT_MS = 35 * 60_000
/**
 * Images not used for this long are removed when another image is built. "Used" is stamped by
 * ensureTestImage(), bootVm() and startContainer(); a running QEMU keeps its backing file open anyway.
 */
const PRUNE_AFTER_MS = 6 * 60 * 60_000

export interface TestImage {
  /** The cache key: a hash of every build input. */
  key: string
  dir: string
  /** Raw ext4 image of the root file system (4 GiB sparse). Read-only: VMs boot a qcow2 overlay of it. */
  diskPath: string
  kernelPath: string
  initrdPath: string
  /** The same tree as disk.img, for systemd-nspawn. Read-only: containers write to an overlay. */
  rootfsDir: string
  /** Logs in as admin (passwordless sudo) and nosudo (no sudo). */
  privateKeyPath: string
  publicKeyPath: string
  /** The Debian mirror baked into the image's apt sources (the host's, when the image was built). */
  mirror: string
  securityMirror: string | undefined
  /** True when this call built the image, false when it came from the cache. */
  built: boolean
  /** Seconds the build took, for a fresh build; the recorded build time otherwise. */
  buildSeconds: number
}

interface Manifest {
  key: string
  mirror: string
  securityMirror: string | undefined
  buildSeconds: number
  builtAt: string
}

/** Where images are kept between runs: $CHAOS_LAB_TEST_CACHE, else <repo>/.cache/test-vm. */
export function testCacheDir(): string {
  return path.resolve(process.env.CHAOS_LAB_TEST_CACHE ?? path.join(REPO_ROOT, '.cache/test-vm'))
}

function buildInputs() {
  const mirror = hostMirror()
  return {
    format: FORMAT,
    suite: 'bookworm',
    include: IMAGE_PACKAGES.join(','),
    kernelPackages: KERNEL_PACKAGES.join(' '),
    diskSize: DISK_SIZE,
    mirror: mirror.mirror,
    securityMirror: mirror.securityMirror,
    components: mirror.components.join(' '),
    script: readFileSync(BUILD_SCRIPT, 'utf8'),
  }
}

function imageFromDir(dir: string, built: boolean): TestImage {
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest
  return {
    key: manifest.key,
    dir,
    diskPath: path.join(dir, 'disk.img'),
    kernelPath: path.join(dir, 'vmlinuz'),
    initrdPath: path.join(dir, 'initrd.img'),
    rootfsDir: path.join(dir, 'rootfs'),
    privateKeyPath: path.join(dir, 'id_ed25519'),
    publicKeyPath: path.join(dir, 'id_ed25519.pub'),
    mirror: manifest.mirror,
    securityMirror: manifest.securityMirror,
    built,
    buildSeconds: manifest.buildSeconds,
  }
}

function isComplete(dir: string): boolean {
  return ['manifest.json', 'disk.img', 'vmlinuz', 'initrd.img', 'id_ed25519', 'rootfs/etc/os-release'].every((name) =>
    existsSync(path.join(dir, name)),
  )
}

/** Stamps the image as in use, so that a build of another image does not prune it. */
export function markImageUsed(image: TestImage): void {
  touchLastUsed(image.dir)
}

/** Removes leftovers of builds whose process died, and images unused for a while. Called under a lock. */
function sweep(cacheDir: string, keepKey: string, log: (line: string) => void): void {
  for (const name of listDir(cacheDir)) {
    const full = path.join(cacheDir, name)
    const build = /^\.build-([0-9a-f]+)-(\d+)-/.exec(name)
    if (build) {
      if (!isAlive(Number(build[2]))) {
        log(`test image: removing the leftover build ${name}`)
        removeTreeSync(full)
      }
      continue
    }
    if (!/^[0-9a-f]{16}$/.test(name) || name === keepKey || existsSync(`${full}.lock`)) continue
    let lastUsed = 0
    try {
      lastUsed = statSync(path.join(full, 'last-used')).mtimeMs
    } catch {
      // Never used: prune.
    }
    if (Date.now() - lastUsed > PRUNE_AFTER_MS) {
      log(`test image: removing the old image ${name}`)
      removeTreeSync(full)
    }
  }
}

export interface EnsureImageOptions {
  /** Progress lines (build steps); the full build output goes to <cache>/<key>.build.log. */
  log?: (line: string) => void
}

/**
 * Returns the Debian bookworm test image, building it first when the cache has none for the current
 * inputs (package lists, build script, the host's mirror). Concurrent callers wait for one build.
 * Needs root (debootstrap, chroot, mkfs.ext4 -d keeping ownership).
 */
export async function ensureTestImage(options: EnsureImageOptions = {}): Promise<TestImage> {
  const log = options.log ?? (() => undefined)
  const inputs = buildInputs()
  const key = createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 16)
  const cacheDir = testCacheDir()
  const logPath = path.join(cacheDir, `${key}.build.log`)
  return cachedBuild({
    cacheDir,
    name: key,
    buildName: `.build-${key}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    lock: {
      waitMs: LOCK_WAIT_MS,
      pollMs: 2000,
      onStale: (owner) => {
        log(`test image: removing the stale lock of process ${owner}`)
      },
      onWait: (owner) => {
        log(`test image: process ${owner} is building it; waiting`)
      },
      timeoutMessage: (owner, lockPath) => `Timed out after ${LOCK_WAIT_MS / 60_000} min waiting for ${lockPath} (held by process ${owner}).`,
    },
    isComplete,
    fromCache: (finalDir) => {
      touchLastUsed(finalDir)
      return imageFromDir(finalDir, false)
    },
    beforeBuild: () => {
      sweep(cacheDir, key, log)
      if (typeof process.getuid === 'function' && process.getuid() !== 0) {
        throw new Error('Building the test image needs root (debootstrap, chroot, mkfs.ext4 -d).')
      }
    },
    build: async (buildDir, started) => {
      writeFileSync(logPath, '')
      log(`test image: building ${key} from ${inputs.mirror} (log: ${logPath})`)
      await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'chaos-lab-test', '-f', path.join(buildDir, 'id_ed25519')], {
        timeoutMs: 30_000,
      })
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`,
        CHAOS_LAB_MIRROR: inputs.mirror,
        CHAOS_LAB_SECURITY_MIRROR: inputs.securityMirror ?? '',
        CHAOS_LAB_COMPONENTS: inputs.components,
        CHAOS_LAB_INCLUDE: inputs.include,
        CHAOS_LAB_KERNEL_PACKAGES: inputs.kernelPackages,
        CHAOS_LAB_PUBKEY_FILE: path.join(buildDir, 'id_ed25519.pub'),
        CHAOS_LAB_DISK_SIZE: inputs.diskSize,
      }
      try {
        await runOk('bash', [BUILD_SCRIPT, buildDir], {
          timeoutMs: BUILD_TIMEOUT_MS,
          env,
          onOutput: (chunk) => {
            appendFileSync(logPath, chunk)
            for (const line of chunk.split('\n')) if (line.startsWith('== ')) log(`test image: ${line.slice(3)}`)
          },
        })
      } catch (error) {
        throw new Error(`Building the test image failed (full log: ${logPath}):\n${readTail(logPath, 30)}`, {cause: error})
      }
      const buildSeconds = Math.round((Date.now() - started) / 1000)
      const manifest: Manifest = {
        key,
        mirror: inputs.mirror,
        securityMirror: inputs.securityMirror,
        buildSeconds,
        builtAt: new Date().toISOString(),
      }
      writeFileSync(path.join(buildDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`)
      writeFileSync(path.join(buildDir, 'last-used'), '')
      return buildSeconds
    },
    fromBuild: (finalDir, buildSeconds) => {
      log(`test image: built ${key} in ${buildSeconds} s`)
      return imageFromDir(finalDir, true)
    },
  })
}
