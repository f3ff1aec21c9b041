/**
 * Benchmarks on the real test VM (the same Debian image and QEMU boot as the e2e tests):
 * - provision: the first provisioning against a no-op rerun, in the same run;
 * - check: `chaos-lab check lesson-1` against a raw `ssh` (a fresh login, as check makes) running the same probe
 *   commands in one session.
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {loadLesson} from '../src/lessons/load.js'
import {BAD_INPUT, fizzbuzzCommand, pickNumbers} from '../src/lessons/kinds/probe.js'
import {bootVm, ensureTestImage, sshArgs} from '../test/helpers/vm/index.js'
import {interleaved, ratioLine} from './measure.js'

function timed(command: string, args: string[], env: NodeJS.ProcessEnv): {ms: number; status: number | null} {
  const started = process.hrtime.bigint()
  const result = spawnSync(command, args, {stdio: 'ignore', env, timeout: 40 * 60_000})
  return {ms: Number(process.hrtime.bigint() - started) / 1e6, status: result.status}
}

/** Every command `check lesson-1` sends, as one shell script: what a person would type over one `ssh`. */
export function lessonProbeScript(lesson: string): string {
  const parts: string[] = []
  for (const check of loadLesson(lesson).checks) {
    if (check.kind === 'state') parts.push(`( ${check.command}\n) || true`)
    if (check.kind === 'probe') parts.push(fizzbuzzCommand(check.url, [...pickNumbers(Math.random), BAD_INPUT]))
  }
  return parts.join('\n')
}

export async function benchWithVm(root: string, sections: string[]): Promise<string[]> {
  const lines: string[] = []
  const image = await ensureTestImage()
  const vm = await bootVm({image, name: 'bench', memoryMb: 1024, cpus: 2})
  const env = {...process.env, XDG_CONFIG_HOME: join(mkdtempSync(join(tmpdir(), 'chaos-lab-bench-')), 'config')}
  const bin = join(root, 'bin', 'run.js')
  const target = ['--target', `ssh://admin@127.0.0.1:${vm.port}`, '--identity', image.privateKeyPath]
  try {
    // Provisioning is needed by the check section too.
    const first = timed(process.execPath, [bin, 'provision', ...target, '--profile', 'headless', '--chapters', '2'], env)
    if (first.status !== 0) throw new Error(`provision failed (exit ${first.status})`)
    if (sections.includes('provision')) {
      const rerun = timed(process.execPath, [bin, 'provision', ...target], env)
      lines.push(ratioLine('provision: no-op rerun / first provision', rerun.ms, first.ms, 0.1))
    }
    if (sections.includes('check')) {
      const script = lessonProbeScript('lesson-1')
      const times = interleaved({
        // A login of its own each time, as `chaos-lab check` makes (the harness would reuse a shared connection).
        raw: () => timed('ssh', [...sshArgs({...vm, controlDir: undefined}), '--', script], env).ms,
        check: () => timed(process.execPath, [bin, 'check', 'lesson-1', ...target, '--memory', '1024', '--cpus', '2', '--json'], env).ms,
      }, 5)
      lines.push(ratioLine('check lesson-1 / raw ssh, same probes', times.check!, times.raw!, 1.5))
    }
  } finally {
    await vm.stop()
  }
  return lines
}
