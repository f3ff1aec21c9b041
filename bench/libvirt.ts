/**
 * `chaos-lab up` on Vagrant + libvirt (QEMU TCG, the test box): the first `up` (create, boot, provision,
 * snapshot) against a second `up` on the running VM, in the same run. The second must be a small fraction of
 * the first: it only asks Vagrant, reads the provisioning stamps and finds the snapshot.
 *
 *   npm run build && node --import tsx bench/libvirt.ts      (as root)
 *   CHAOS_LAB_LIBVIRT_PREINSTALL=1 …   the box with the base step's packages in (see the e2e test)
 *
 * Needs what test/e2e/libvirt-vagrant.test.ts needs (Vagrant, vagrant-libvirt, libvirt, QEMU, debootstrap).
 */
import {mkdtempSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {
  BOX_NAME,
  boxPreinstallFromEnv,
  configureLabForHost,
  ensureLibvirtBox,
  freezeCli,
  labEnv,
  runCliInNetns,
  seedBoxVolume,
  startLibvirt,
  type LibvirtHost,
} from '../test/helpers/libvirt/index.js'
import {ensureTestImage} from '../test/helpers/vm/index.js'
import {removeTreeSync} from '../test/helpers/vm/run.js'
import {ratioLine} from './measure.js'

const MINUTE = 60_000

export async function benchLibvirt(): Promise<string[]> {
  const lines: string[] = []
  const image = await ensureTestImage()
  const preinstall = boxPreinstallFromEnv()
  const box = await ensureLibvirtBox(image, {preinstall})
  let host: LibvirtHost | undefined
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'chaos-lab-bench-libvirt-'))
  try {
    const started = await startLibvirt()
    host = started
    const seedMs = await seedBoxVolume(started, box)
    const lab = path.join(scratch, 'lab')
    const env = labEnv(box, scratch)
    const bin = await freezeCli(path.join(scratch, 'chaos-lab'))
    const cli = async (args: string[], timeoutMs: number) => {
      const result = await runCliInNetns(started, args, {bin, env, timeoutMs})
      if (result.code !== 0) throw new Error(`chaos-lab ${args.join(' ')} exited ${result.code ?? result.signal}:\n${result.stderr.slice(-2000)}`)
      return result
    }
    await cli(['init', '--dir', lab, '--provider', 'libvirt', '--box', BOX_NAME, '--profile', 'headless'], MINUTE)
    configureLabForHost(lab, started, {memoryMb: 1024, cpus: 2})
    const first = await cli(['up', '--dir', lab, '--json'], 45 * MINUTE)
    const second = await cli(['up', '--dir', lab, '--json'], 10 * MINUTE)
    const changed = (second.json as {provision?: {changed?: boolean}} | undefined)?.provision?.changed
    lines.push(`libvirt: box ${preinstall.length > 0 ? 'with the base packages in' : 'bare'}; its volume pre-seeded in ${seedMs} ms`)
    lines.push(ratioLine('libvirt: up on the running VM / first up', second.ms, first.ms, 0.1))
    if (changed !== false) lines.push(`libvirt: the second up changed something (provision.changed = ${String(changed)}): MISSED`)
    await cli(['destroy', '--dir', lab, '--force'], 10 * MINUTE)
    return lines
  } finally {
    await host?.stop()
    removeTreeSync(scratch)
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log((await benchLibvirt()).join('\n'))
}
