import {createHash} from 'node:crypto'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import {cachedBuild, touchLastUsed} from '../vm/cache-build.js'
import {PREINSTALL, preinstallPackages} from '../vm/chroot-install.js'
import {DISK_SIZE, REPO_ROOT, testCacheDir, type TestImage} from '../vm/image.js'
import {isAlive, listDir, removeTreeSync, run, runOk} from '../vm/run.js'
import type {LibvirtHost} from './daemon.js'

/**
 * A local Vagrant box for vagrant-libvirt, made from the test VM image (test/helpers/vm): the image's root file
 * system plus a `vagrant` user that Vagrant's insecure key logs in to (so Vagrant swaps it for a key of its own
 * on the first `up`, as with any public box), as a qcow2 disk with direct kernel boot (the image has no boot
 * loader): the box carries vmlinuz and initrd.img and its Vagrantfile points libvirt at them.
 *
 * Built once per image and kept in <test cache>/libvirt-box/<key>/, already added (`vagrant box add`) to a
 * VAGRANT_HOME of its own there: tests run Vagrant with that VAGRANT_HOME.
 */

export const BOX_NAME = 'chaos-lab-test/bookworm'
/** A box version makes vagrant-libvirt's volume name stable (unversioned boxes get the file's mtime in it). */
export const BOX_VERSION = '1.0.0'
/** Bumped by hand when the box's layout changes in a way the inputs below do not show. */
const FORMAT = 1
/** What the box's root file system resolves names with: the dnsmasq of vagrant-libvirt's management network. */
const MANAGEMENT_GATEWAY = '192.168.121.1'
const LOCK_WAIT_MS = 20 * 60_000
/** Boxes not used for this long are removed when another box is built (as the image cache does). */
const PRUNE_AFTER_MS = 60 * 60_000

export const BOX_TOOLS = ['vagrant', 'qemu-img', 'mkfs.ext4', 'truncate', 'tar', 'chroot', 'mount', 'umount', 'ssh-keygen'] as const

export interface LibvirtBox {
  name: string
  version: string
  key: string
  dir: string
  /** The VAGRANT_HOME the box was added to (read-only: tests use a home of their own, see vagrantHomeFor). */
  vagrantHome: string
  /** The qcow2 disk inside VAGRANT_HOME (what vagrant-libvirt uploads into the pool). */
  diskPath: string
  /** The name vagrant-libvirt gives the box's volume in the storage pool. */
  volumeName: string
  virtualSizeGb: number
  built: boolean
  buildSeconds: number
}

/** The box's own Vagrantfile, merged by Vagrant under the lab's: direct kernel boot from files in the box. */
const BOX_VAGRANTFILE = `# chaos-lab test box: Debian bookworm without a boot loader, booted by libvirt from the kernel and initrd in
# this box's folder.
Vagrant.configure('2') do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.kernel = File.expand_path('vmlinuz', __dir__)
    libvirt.initrd = File.expand_path('initrd.img', __dir__)
    libvirt.cmd_line = 'root=/dev/vda rw console=ttyS0'
  end
end
`

/** Runs inside the image's root file system (chroot): the vagrant user, its key and sudo, DNS. */
const CUSTOMIZE = `set -eu
useradd --create-home --shell /bin/bash vagrant
usermod -p '*' vagrant
install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.ssh
install -m 0600 -o vagrant -g vagrant /tmp/vagrant.pub /home/vagrant/.ssh/authorized_keys
rm -f /tmp/vagrant.pub
printf 'vagrant ALL=(ALL) NOPASSWD: ALL\\n' >/etc/sudoers.d/vagrant
chmod 0440 /etc/sudoers.d/vagrant
rm -f /etc/resolv.conf
printf 'nameserver ${MANAGEMENT_GATEWAY}\\n' >/etc/resolv.conf
`

function boxRoot(): string {
  return path.join(testCacheDir(), 'libvirt-box')
}

function volumeName(): string {
  return `${BOX_NAME.replaceAll('/', '-VAGRANTSLASH-')}_vagrant_box_image_${BOX_VERSION}_box.img`
}

function virtualSizeGb(): number {
  const match = /^(\d+)G$/.exec(DISK_SIZE)
  if (!match) throw new Error(`The test image's DISK_SIZE (${DISK_SIZE}) is not a whole number of GiB.`)
  return Number(match[1])
}

function boxFromDir(dir: string, key: string, built: boolean): LibvirtBox {
  const vagrantHome = path.join(dir, 'vagrant.d')
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {buildSeconds: number}
  return {
    name: BOX_NAME,
    version: BOX_VERSION,
    key,
    dir,
    vagrantHome,
    diskPath: path.join(vagrantHome, 'boxes', BOX_NAME.replaceAll('/', '-VAGRANTSLASH-'), BOX_VERSION, 'libvirt', 'box.img'),
    volumeName: volumeName(),
    virtualSizeGb: virtualSizeGb(),
    built,
    buildSeconds: manifest.buildSeconds,
  }
}

/** Touches the box's last-used stamp (what the sweep reads). */
function used(box: LibvirtBox): LibvirtBox {
  touchLastUsed(box.dir)
  return box
}

/** The public half of each insecure key this Vagrant logs in with before it inserts a key of its own. */
async function insecurePublicKeys(vagrantHome: string): Promise<string> {
  // Any command that loads the environment copies the insecure key(s) into VAGRANT_HOME.
  await runOk('vagrant', ['box', 'list'], {timeoutMs: 120_000, env: {...process.env, VAGRANT_HOME: vagrantHome}})
  const privateKeys: string[] = []
  const single = path.join(vagrantHome, 'insecure_private_key')
  if (existsSync(single)) privateKeys.push(single)
  const many = path.join(vagrantHome, 'insecure_private_keys') // Vagrant >= 2.4: RSA and ed25519
  for (const name of listDir(many)) if (!name.endsWith('.pub')) privateKeys.push(path.join(many, name))
  if (privateKeys.length === 0) throw new Error(`Vagrant left no insecure private key in ${vagrantHome}.`)
  const lines: string[] = []
  for (const key of privateKeys) {
    chmodSync(key, 0o600)
    lines.push((await runOk('ssh-keygen', ['-y', '-f', key], {timeoutMs: 30_000})).stdout.trim())
  }
  return `${lines.join('\n')}\n`
}

/** Removes boxes of images that are gone (the image cache prunes old images) and leftover builds. */
function sweep(root: string, keep: string, imageKey: string, log: (line: string) => void): void {
  for (const name of listDir(root)) {
    const full = path.join(root, name)
    const build = /^\.build-[0-9a-f]+-(\d+)-/.exec(name)
    if (build) {
      if (!isAlive(Number(build[1]))) removeTreeSync(full)
      continue
    }
    const match = /^([0-9a-f]{16})-([0-9a-f]{16})$/.exec(name)
    if (!match || name === keep || existsSync(`${full}.lock`)) continue
    if (match[1] !== imageKey && !existsSync(path.join(testCacheDir(), match[1] ?? ''))) {
      log(`libvirt box: removing ${name} (its image is gone)`)
      removeTreeSync(full)
      continue
    }
    let lastUsed = 0
    try {
      lastUsed = statSync(path.join(full, 'last-used')).mtimeMs
    } catch {
      // Never used: prune.
    }
    if (Date.now() - lastUsed > PRUNE_AFTER_MS) {
      log(`libvirt box: removing ${name} (unused for over ${PRUNE_AFTER_MS / 60_000} min)`)
      removeTreeSync(full)
    }
  }
}

export interface EnsureBoxOptions {
  log?: (line: string) => void
  /**
   * Debian packages to install into the box at build time (natively, in a chroot: about a minute, once per
   * image), so that provisioning under TCG finds them present instead of spending minutes in apt. Default none:
   * the box is the bare test image, and `up` provisions from scratch. See provisioningBasePackages().
   */
  preinstall?: readonly string[]
}

/**
 * The packages of the provisioning's base step (BASE_PACKAGES in provisioning/steps/base.sh), for
 * EnsureBoxOptions.preinstall.
 */
export function provisioningBasePackages(): string[] {
  const script = readFileSync(path.join(REPO_ROOT, 'provisioning', 'steps', 'base.sh'), 'utf8')
  const match = /^BASE_PACKAGES=\(([^)]*)\)/m.exec(script)
  if (!match) throw new Error('provisioning/steps/base.sh has no BASE_PACKAGES=( … ) list.')
  const packages = (match[1] ?? '').split(/\s+/).filter(Boolean)
  const bad = packages.filter((name) => !/^[a-z0-9][a-z0-9.+-]*$/.test(name))
  if (bad.length > 0) throw new Error(`BASE_PACKAGES has names that are not Debian package names: ${bad.join(', ')}`)
  return packages
}

/**
 * What the box should hold besides the test image: with CHAOS_LAB_LIBVIRT_PREINSTALL=1 (what .ci/run sets) the
 * base step's packages, so provisioning under TCG skips minutes of apt; otherwise nothing (a bare box).
 */
export function boxPreinstallFromEnv(): string[] {
  return process.env.CHAOS_LAB_LIBVIRT_PREINSTALL === '1' ? provisioningBasePackages() : []
}

/**
 * Returns the test box, building it first when the cache has none for this image (about a minute: overlay,
 * mkfs.ext4 -d, qemu-img convert, vagrant box add). Needs root (overlay mount, chroot).
 */
export async function ensureLibvirtBox(image: TestImage, options: EnsureBoxOptions = {}): Promise<LibvirtBox> {
  const log = options.log ?? (() => undefined)
  const preinstall = [...(options.preinstall ?? [])].sort()
  const inputs = {format: FORMAT, image: image.key, vagrantfile: BOX_VAGRANTFILE, customize: CUSTOMIZE, preinstall: preinstall.length > 0 ? [PREINSTALL, preinstall] : [], name: BOX_NAME, version: BOX_VERSION}
  const boxKey = createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 16)
  const key = `${image.key}-${boxKey}`
  const root = boxRoot()
  const buildName = `.build-${boxKey}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`
  return cachedBuild({
    cacheDir: root,
    name: key,
    buildName,
    lock: {
      waitMs: LOCK_WAIT_MS,
      pollMs: 2000,
      onStale: (owner) => {
        log(`libvirt box: removing the stale lock of process ${owner}`)
      },
      timeoutMessage: (owner, lockPath) => `Timed out waiting for ${lockPath} (held by process ${owner}).`,
    },
    isComplete: (finalDir) => existsSync(path.join(finalDir, 'manifest.json')),
    fromCache: (finalDir) => used(boxFromDir(finalDir, key, false)),
    beforeBuild: () => {
      sweep(root, key, image.key, log)
    },
    build: async (buildDir, started) => {
      const upper = path.join(buildDir, 'upper')
      const work = path.join(buildDir, 'work')
      const merged = path.join(buildDir, 'root')
      const staging = path.join(buildDir, 'box')
      const vagrantHome = path.join(buildDir, 'vagrant.d')
      for (const sub of [upper, work, merged, staging, vagrantHome]) mkdirSync(sub)
      log(`libvirt box: building ${BOX_NAME} ${BOX_VERSION} from image ${image.key}`)
      const publicKeys = await insecurePublicKeys(vagrantHome)

      // The image's tree stays read-only: the changes go to an overlay's upper directory.
      await runOk('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${image.rootfsDir},upperdir=${upper},workdir=${work}`, merged], {timeoutMs: 30_000})
      try {
        writeFileSync(path.join(merged, 'tmp', 'vagrant.pub'), publicKeys)
        if (preinstall.length > 0) {
          log(`libvirt box: installing ${preinstall.length} packages into the box (natively)`)
          await preinstallPackages(merged, preinstall)
        }
        await runOk('chroot', [merged, 'sh', '-c', CUSTOMIZE], {timeoutMs: 60_000})
        const raw = path.join(buildDir, 'disk.raw')
        await runOk('truncate', ['-s', DISK_SIZE, raw], {timeoutMs: 30_000})
        await runOk('mkfs.ext4', ['-q', '-F', '-L', 'chaos-lab-root', '-d', merged, raw], {timeoutMs: 10 * 60_000})
      } finally {
        await run('umount', [merged], {timeoutMs: 30_000})
      }
      log(`libvirt box: root file system written (${((Date.now() - started) / 1000).toFixed(0)} s); converting to qcow2`)
      await runOk('qemu-img', ['convert', '-O', 'qcow2', path.join(buildDir, 'disk.raw'), path.join(staging, 'box.img')], {timeoutMs: 10 * 60_000})
      unlinkSync(path.join(buildDir, 'disk.raw'))
      copyFileSync(image.kernelPath, path.join(staging, 'vmlinuz'))
      copyFileSync(image.initrdPath, path.join(staging, 'initrd.img'))
      writeFileSync(path.join(staging, 'metadata.json'), `${JSON.stringify({provider: 'libvirt', format: 'qcow2', virtual_size: virtualSizeGb()})}\n`)
      writeFileSync(path.join(staging, 'Vagrantfile'), BOX_VAGRANTFILE)
      // Uncompressed: gzip would cost more time than the bytes it saves on a local disk.
      const boxFile = path.join(buildDir, 'bookworm.box')
      await runOk('tar', ['-cf', boxFile, '-C', staging, 'metadata.json', 'Vagrantfile', 'box.img', 'vmlinuz', 'initrd.img'], {timeoutMs: 5 * 60_000})
      removeTreeSync(staging)
      // Added through a catalog so the box has a version (a bare .box file is added as version 0).
      const catalog = path.join(buildDir, 'catalog.json')
      writeFileSync(catalog, `${JSON.stringify({
        name: BOX_NAME,
        versions: [{version: BOX_VERSION, providers: [{name: 'libvirt', url: pathToFileURL(boxFile).href}]}],
      }, null, 2)}\n`)
      log('libvirt box: vagrant box add')
      await runOk('vagrant', ['box', 'add', '--provider', 'libvirt', '--force', catalog], {
        timeoutMs: 10 * 60_000,
        env: {...process.env, VAGRANT_HOME: vagrantHome},
      })
      unlinkSync(boxFile)
      const buildSeconds = Math.round((Date.now() - started) / 1000)
      writeFileSync(path.join(buildDir, 'manifest.json'), `${JSON.stringify({key, image: image.key, buildSeconds, builtAt: new Date().toISOString()}, null, 2)}\n`)
      for (const sub of [upper, work, merged]) removeTreeSync(sub)
      return buildSeconds
    },
    fromBuild: (finalDir, buildSeconds) => {
      const box = boxFromDir(finalDir, key, true)
      // Vagrant records where the box came from; the directory moved, so point the record at the new place.
      fixMetadataUrl(box, path.join(root, buildName), finalDir)
      if (!existsSync(box.diskPath)) throw new Error(`vagrant box add left no ${box.diskPath}`)
      log(`libvirt box: built in ${buildSeconds} s (${(statSync(box.diskPath).size / 2 ** 20).toFixed(0)} MiB qcow2)`)
      return used(box)
    },
  })
}

/** Vagrant keeps the catalog's URL in boxes/<name>/metadata_url; it is read by the update check on `up`. */
function fixMetadataUrl(box: LibvirtBox, from: string, to: string): void {
  const file = path.join(box.vagrantHome, 'boxes', BOX_NAME.replaceAll('/', '-VAGRANTSLASH-'), 'metadata_url')
  if (!existsSync(file)) return
  writeFileSync(file, readFileSync(file, 'utf8').replace(pathToFileURL(from).href, pathToFileURL(to).href))
}

/**
 * Puts the box's disk into the host's pool under the name vagrant-libvirt looks for, so the first `up` skips
 * the upload through libvirt's stream API (which dominates it, DESIGN.md). A plain copy of the qcow2
 * file: the pool directory is the host's scratch directory.
 */
export async function seedBoxVolume(host: LibvirtHost, box: LibvirtBox): Promise<number> {
  const started = Date.now()
  const target = path.join(host.poolDir, box.volumeName)
  await runOk('cp', ['--sparse=always', '--reflink=auto', box.diskPath, target], {timeoutMs: 5 * 60_000})
  const refresh = await host.virsh(['pool-refresh', host.pool])
  if (refresh.code !== 0) throw new Error(`virsh pool-refresh failed: ${refresh.stderr}`)
  return Date.now() - started
}

/**
 * A fresh VAGRANT_HOME in `dir` whose boxes/ is the cached box's (a symbolic link): Vagrant's machine index,
 * its temporary files and the insecure key copy go to `dir`, so a run leaves nothing in the cache.
 */
export function vagrantHomeFor(box: LibvirtBox, dir: string): string {
  mkdirSync(dir, {recursive: true})
  symlinkSync(path.join(box.vagrantHome, 'boxes'), path.join(dir, 'boxes'))
  return dir
}

/** Every box directory in the cache (for a test that checks the cache). */
export function cachedBoxes(): string[] {
  return readdirSync(boxRoot()).filter((name) => /^[0-9a-f]{16}-[0-9a-f]{16}$/.test(name))
}
