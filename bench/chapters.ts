/**
 * `npm run bench -- chapter3` (or chapter4): adding a chapter to a lab on the real test VM (the bare Debian image,
 * so apt downloads what the chapter needs: for 3 BCC's LLVM, sysstat, stress, cgroup-tools, the kernel's headers;
 * for 4 Apache, PHP, MariaDB and WordPress). Chapter 2 is provisioned first and not counted. Prints the first run
 * of the chapter's step (time, and what apt said it downloaded), then holds a no-op rerun against it (target: at
 * most 10%).
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {bootVm, ensureTestImage} from '../test/helpers/vm/index.js'
import {ratioLine} from './measure.js'

function timed(command: string, args: string[], env: NodeJS.ProcessEnv): {ms: number; status: number | null} {
  const started = process.hrtime.bigint()
  const result = spawnSync(command, args, {stdio: 'ignore', env, timeout: 60 * 60_000})
  return {ms: Number(process.hrtime.bigint() - started) / 1e6, status: result.status}
}

/** apt's "Need to get 74.3 MB of archives" lines, summed, in MB. */
export function downloadedMb(aptLog: string): number {
  const unit: Record<string, number> = {B: 1e-6, kB: 1e-3, MB: 1, GB: 1000}
  let total = 0
  for (const match of aptLog.matchAll(/^Need to get ([\d.,]+) (B|kB|MB|GB)(?:\/[\d.,]+ \w+)? of archives/gm)) {
    total += Number((match[1] ?? '0').replace(/,/g, '')) * (unit[match[2] ?? 'MB'] ?? 1)
  }
  return total
}

export async function benchChapter(root: string, chapter: number): Promise<string[]> {
  const image = await ensureTestImage()
  const vm = await bootVm({image, name: `bench-ch${chapter}`, memoryMb: 1024, cpus: 2})
  const env = {...process.env, XDG_CONFIG_HOME: join(mkdtempSync(join(tmpdir(), 'chaos-lab-bench-')), 'config')}
  const bin = join(root, 'bin', 'run.js')
  const target = ['--target', `ssh://admin@127.0.0.1:${vm.port}`, '--identity', image.privateKeyPath]
  try {
    const chapter2 = timed(process.execPath, [bin, 'provision', ...target, '--chapters', '2'], env)
    if (chapter2.status !== 0) throw new Error(`provision --chapters 2 failed (exit ${chapter2.status})`)
    await vm.ssh('sudo -n sh -c ": > /var/log/chaos-lab/apt.log"')
    const first = timed(process.execPath, [bin, 'provision', ...target, '--chapters', String(chapter)], env)
    if (first.status !== 0) throw new Error(`provision --chapters ${chapter} failed (exit ${first.status})`)
    const mb = downloadedMb((await vm.ssh('sudo -n cat /var/log/chaos-lab/apt.log')).stdout)
    const rerun = timed(process.execPath, [bin, 'provision', ...target], env)
    return [
      `chapter${chapter}: provision --chapters ${chapter} on a chapter-2 lab took ${(first.ms / 1000).toFixed(0)} s and downloaded ${mb.toFixed(1)} MB (chapter 2 before it: ${(chapter2.ms / 1000).toFixed(0)} s)`,
      ratioLine(`chapter${chapter}: no-op rerun / first provision of chapter ${chapter}`, rerun.ms, first.ms, 0.1),
    ]
  } finally {
    await vm.stop()
  }
}
