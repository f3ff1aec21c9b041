import {readFileSync} from 'node:fs'
import path from 'node:path'

import {provisioningPackages} from '../fleet/images.js'
import {REPO_ROOT, type TestImage} from './image.js'
import {ensurePreinstalledImage, type PreinstalledImage} from './preinstalled-image.js'

/**
 * The desktop test image: the harness's Debian test image with every package the desktop profile's provisioning
 * installs already in it (preinstalled-image.ts: GNOME under TCG's apt would take far longer than the rest of the
 * e2e). Provisioning still runs every step on it; apt_install just finds its packages present.
 *
 * Besides provisioning's own lists it carries, as an Ubuntu desktop box does:
 * - systemd-oomd (Ubuntu's desktop runs it; Debian's GNOME does not pull it in): the desktop step must mask it;
 * - spice-vdagent: what the desktop step installs on a QEMU/KVM guest (so the step's apt finds it present).
 */

/** Sparse; GNOME and the base packages fill about 3 GiB of it. */
export const DESKTOP_DISK_SIZE = '8G'

/** What the desktop image adds beyond provisioning's lists (see above). */
export const DESKTOP_IMAGE_EXTRAS = ['systemd-oomd', 'spice-vdagent'] as const

export type DesktopImage = PreinstalledImage

/** The Debian packages of provisioning/lib/desktop-packages.txt (what desktop.sh installs on Debian). */
export function debianDesktopPackages(): string[] {
  const text = readFileSync(path.join(REPO_ROOT, 'provisioning', 'lib', 'desktop-packages.txt'), 'utf8')
  const packages = text.split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.split(':'))
    .filter(([distro]) => distro === 'debian')
    .map(([, name]) => (name ?? '').trim())
  if (packages.length === 0) throw new Error('provisioning/lib/desktop-packages.txt lists no Debian packages.')
  return packages
}

/** The desktop image made from `base` (built on first use, then cached). Needs root. */
export function ensureDesktopImage(base: TestImage, options: {log?: (line: string) => void} = {}): Promise<DesktopImage> {
  return ensurePreinstalledImage(base, {
    label: 'desktop',
    packages: [...provisioningPackages(), ...debianDesktopPackages(), ...DESKTOP_IMAGE_EXTRAS],
    diskSize: DESKTOP_DISK_SIZE,
    ...(options.log ? {log: options.log} : {}),
  })
}
