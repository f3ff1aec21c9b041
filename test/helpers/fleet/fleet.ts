/**
 * Many systemd-nspawn containers as one class of learner machines: start them together, describe them in an
 * Ansible INI inventory, and watch the chaos-lab process connect to one of them (to kill it mid-run).
 */
import {spawnSync} from 'node:child_process'
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import {dirname} from 'node:path'

import type {TestImage} from '../vm/image.js'
import {startContainer, type Container} from '../vm/nspawn.js'
import {cmdlineOf, sleep} from '../vm/run.js'

/**
 * Starts one container per name, all at once, each with its own network namespace, sshd and memory limit.
 * If any fails, the others are stopped and the first error is thrown.
 */
export async function startFleet(image: TestImage, names: readonly string[], memoryMb: number, cpuCount?: number): Promise<Container[]> {
  const results = await Promise.allSettled(names.map((name) => startContainer({image, name, memoryMb, ...(cpuCount === undefined ? {} : {cpuCount})})))
  const started = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected')
  if (failed) {
    await Promise.all(started.map((container) => container.stop()))
    throw failed.reason
  }
  return started
}

/**
 * An Ansible INI inventory: one section per group with each host's ansible_host, a parent group `class` over
 * them, and the login (user, key) as the parent group's vars, as an instructor would write it.
 */
/** Stops the class's containers and removes the test's work folder and its private config home (isolatedEnv's). */
export async function stopFleet(containers: readonly Container[], work: string | undefined, env: Record<string, string>): Promise<void> {
  await Promise.all(containers.map((container) => container.stop()))
  if (work) rmSync(work, {recursive: true, force: true})
  rmSync(dirname(env.XDG_CONFIG_HOME!), {recursive: true, force: true})
}

export function writeIniInventory(file: string, groups: Record<string, readonly Container[]>, login: {user: string; identityFile: string}): void {
  const lines = ['# chaos-lab fleet e2e: one line per learner machine', '']
  for (const [group, containers] of Object.entries(groups)) {
    lines.push(`[${group}]`)
    for (const container of containers) lines.push(`${container.name} ansible_host=${container.host} ansible_port=${container.port}`)
    lines.push('')
  }
  lines.push('[class:children]', ...Object.keys(groups), '')
  lines.push('[class:vars]', `ansible_user=${login.user}`, `ansible_ssh_private_key_file=${login.identityFile}`, '')
  writeFileSync(file, lines.join('\n'))
}

/**
 * Waits (bounded) until a chaos-lab process (bin/run.js) has an established TCP connection to address:22,
 * read from `ss`; returns that process's PID. The harness's own openssh connections do not count.
 */
export async function waitForCliConnection(address: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (let attempt = 0; attempt < timeoutMs / 50 + 1 && Date.now() < deadline; attempt++) {
    const ss = spawnSync('ss', ['-tnpH', 'state', 'established', 'dst', `${address}:22`], {encoding: 'utf8', timeout: 5000})
    for (const match of (ss.stdout ?? '').matchAll(/pid=(\d+)/g)) {
      const pid = Number(match[1])
      if (cmdlineOf(pid).includes('run.js')) return pid
    }
    await sleep(50)
  }
  throw new Error(`no chaos-lab connection to ${address}:22 within ${timeoutMs} ms`)
}

/** Parses the class report's matrix.csv (RFC 4180, CRLF; the fields chaos-lab writes need no quotes). */
export function readCsv(file: string): string[][] {
  return readFileSync(file, 'utf8')
    .split('\r\n')
    .filter(Boolean)
    .map((line) => line.split(','))
}
