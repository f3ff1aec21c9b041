import {readdirSync} from 'node:fs'
import path from 'node:path'

import {provisioningPackages} from '../fleet/images.js'
import type {TestImage} from './image.js'
import {ensurePreinstalledImage, type PreinstalledImage} from './preinstalled-image.js'

/**
 * The chapters test image: the harness's Debian test image with every package the headless steps of the given
 * chapters install (chapter 3: bpfcc-tools and its LLVM/clang, sysstat, stress, cgroup-tools …) plus the headers
 * of the image's own kernel (what BCC compiles against), preinstalled as preinstalled-image.ts does: under TCG the
 * same apt run takes minutes. Provisioning still runs every step on it; apt_install finds the packages present.
 */

/** Sparse; the packages fill about 2 GiB; chapter 3's stress writes a 1 GB scratch file at a time (-d 1). */
export const CHAPTERS_DISK_SIZE = '8G'

export interface ChaptersImage extends PreinstalledImage {
  chapters: number[]
  /** The kernel the image boots (its headers are installed). */
  kernel: string
}

/** The kernel release installed in a root file system (its one /lib/modules entry). */
export function kernelOf(rootfs: string): string {
  const releases = readdirSync(path.join(rootfs, 'lib', 'modules')).filter((name) => /^\d/.test(name))
  if (releases.length !== 1) throw new Error(`expected one kernel in ${rootfs}/lib/modules, found: ${releases.join(', ') || 'none'}`)
  return releases[0] ?? ''
}

/** The image for `chapters` made from `base`, built first when the cache has none. Needs root. */
export async function ensureChaptersImage(base: TestImage, chapters: readonly number[], options: {log?: (line: string) => void} = {}): Promise<ChaptersImage> {
  const kernel = kernelOf(base.rootfsDir)
  const image = await ensurePreinstalledImage(base, {
    label: 'chapters',
    packages: [...provisioningPackages(undefined, chapters), `linux-headers-${kernel}`],
    diskSize: CHAPTERS_DISK_SIZE,
    ...(options.log ? {log: options.log} : {}),
  })
  return {...image, chapters: [...chapters], kernel}
}
