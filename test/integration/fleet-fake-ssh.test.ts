import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import CheckCommand from '../../src/commands/check.js'
import StatusCommand from '../../src/commands/status.js'
import {setDepsForTesting} from '../../src/deps.js'
import {captureOutput} from '../helpers/capture-output.js'
import {startFakeSshServer, type FakeSshServer} from '../helpers/fake-ssh-server.js'

const ROOT = join(import.meta.dirname, '..', '..')

/** A port on which nothing listens: a learner VM that is switched off. */
async function closedPort(): Promise<number> {
  return new Promise((resolvePort) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => { resolvePort(port) })
    })
  })
}

async function captureJson(run: () => Promise<unknown>): Promise<any> {
  return JSON.parse((await captureOutput(run)).stdout)
}

describe('a class from an inventory, against in-process SSH servers', () => {
  const servers: FakeSshServer[] = []
  let dir: string
  let inventory: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chaos-lab-fleet-'))
    process.env.XDG_CONFIG_HOME = join(dir, 'config')
    for (let i = 0; i < 3; i++) {
      servers.push(await startFakeSshServer({
        fallback: ({command}) => (command.startsWith('cat /proc/uptime') ? {stdout: '123.45 100.00\n{"version":1,"steps":{"base":{}}}\n'} : {code: 1}),
      }))
    }
    const offPort = await closedPort()
    const lines = ['[class]', ...servers.map((server, i) => `learner0${i + 1} ansible_host=127.0.0.1 ansible_port=${server.port} ansible_user=chaos ansible_ssh_private_key_file=${server.identityFile}`),
      `learner04 ansible_host=127.0.0.1 ansible_port=${offPort} ansible_user=chaos ansible_ssh_private_key_file=${servers[0]!.identityFile}`]
    inventory = join(dir, 'class.ini')
    writeFileSync(inventory, `${lines.join('\n')}\n`)
  })

  afterEach(() => { process.exitCode = undefined; setDepsForTesting(undefined) })
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()))
    rmSync(dir, {recursive: true, force: true})
  })

  it('check --inventory --report: every host checked side by side, the switched-off one unreachable, worst exit code', async () => {
    const report = join(dir, 'report')
    const result = await captureJson(() => CheckCommand.run(['lesson-1', '--inventory', inventory, '--report', report, '--json', '--concurrency', '2'], ROOT))
    // On a mismatch, each host's error says why (a status alone does not).
    const hostErrors = JSON.stringify(result.hosts.map((h: {host: string; error?: unknown}) => [h.host, h.error ?? null]))
    expect(result.hosts.map((h: {host: string; status: string}) => [h.host, h.status]), hostErrors).toEqual([
      ['learner01', 'ok'], ['learner02', 'ok'], ['learner03', 'ok'], ['learner04', 'unreachable'],
    ])
    // The machines answered nothing right: their checks fail (1); the switched-off one makes the run exit 3.
    expect(result.hosts[0].exitCode).toBe(1)
    expect(result.hosts[0].result.summary.fail).toBeGreaterThan(0)
    expect(result.exitCode).toBe(3)
    expect(process.exitCode).toBe(3)
    for (const file of ['matrix.csv', 'junit.xml', 'report.html', 'hosts/learner01.json', 'hosts/learner04.json']) expect(existsSync(join(report, file)), file).toBe(true)
    const csv = readFileSync(join(report, 'matrix.csv'), 'utf8')
    expect(csv).toMatch(/^learner04,unreachable/m)
    // Every server saw exactly one connection's worth of checks: each ran the lesson once.
    for (const server of servers) expect(server.requests.length).toBeGreaterThan(3)
  })

  it('--limit picks hosts; status --inventory reads each machine\'s provisioning stamps', async () => {
    const result = await captureJson(() => StatusCommand.run(['--inventory', inventory, '--limit', 'learner01,learner02', '--json'], ROOT))
    expect(result.hosts.map((h: {host: string}) => h.host)).toEqual(['learner01', 'learner02'])
    expect(result.hosts[0].result).toEqual({provisioned: ['base'], uptimeSeconds: 123})
    expect(result.exitCode).toBe(0)
  })

  it('a --limit that matches nothing is a usage error (exit 2), before any connection', async () => {
    const before = servers.map((server) => server.requests.length)
    const result = await captureJson(() => StatusCommand.run(['--inventory', inventory, '--limit', 'lerner01', '--json'], ROOT))
    expect(result.error.exitCode).toBe(2)
    expect(result.error.message + result.error.suggestion).toMatch(/learner01/)
    expect(servers.map((server) => server.requests.length)).toEqual(before)
  })
})
