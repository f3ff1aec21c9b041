import {copyFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {run, runOk} from './run.js'

/**
 * Installing Debian packages into a root file system natively (chroot), for images that tests boot under TCG
 * with packages already present: the libvirt box (test/helpers/libvirt/box.ts) and the desktop image
 * (desktop-image.ts). Under TCG the same apt run takes several times longer.
 */

/** Runs inside the root file system (chroot, /proc mounted, no services started): apt, then clean. */
export const PREINSTALL = `set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
apt-get -q update
apt-get -q -y install --no-install-recommends "$@"
apt-get -q clean
`

/**
 * apt-get install in the tree with the host's resolver; services are kept from starting (policy-rc.d).
 * `onOutput` gets apt's output as it comes (a build log).
 */
export async function preinstallPackages(root: string, packages: readonly string[], options: {timeoutMs?: number; onOutput?: (chunk: string) => void; env?: Record<string, string>} = {}): Promise<void> {
  const policy = path.join(root, 'usr', 'sbin', 'policy-rc.d')
  const resolv = path.join(root, 'etc', 'resolv.conf')
  const proc = path.join(root, 'proc')
  rmSync(resolv, {force: true})
  copyFileSync('/etc/resolv.conf', resolv)
  writeFileSync(policy, '#!/bin/sh\nexit 101\n', {mode: 0o755})
  await runOk('mount', ['-t', 'proc', 'proc', proc], {timeoutMs: 30_000})
  try {
    await runOk('chroot', [root, 'sh', '-c', PREINSTALL, 'sh', ...packages], {
      timeoutMs: options.timeoutMs ?? 20 * 60_000,
      onOutput: options.onOutput,
      env: {...process.env, ...options.env},
    })
  } finally {
    const unmounted = await run('umount', [proc], {timeoutMs: 30_000})
    if (unmounted.code !== 0) await run('umount', ['-l', proc], {timeoutMs: 30_000})
    rmSync(policy, {force: true})
  }
}
