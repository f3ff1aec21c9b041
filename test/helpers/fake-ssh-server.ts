import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import ssh2 from 'ssh2'
import type {AuthContext, Connection, ParsedKey, ServerChannel} from 'ssh2'

import {KnownHosts} from '../../src/ssh/known-hosts.js'
import type {SshTarget} from '../../src/ssh/target.js'

/**
 * An in-process SSH server for tests: a scripted VM. It accepts one generated test key for any user, and
 * answers every exec request through a handler (command → stdout/stderr/exit code, a signal, a hang, or a
 * dropped connection). Use it with the real `connectSsh`, so that tests cover ssh2 end to end.
 *
 *     const vm = await startFakeSshServer({rules: [[/^nproc$/, {stdout: '2\n'}]]})
 *     const session = await connectSsh(vm.target, {knownHosts: vm.knownHosts})
 *     …
 *     await vm.close()
 */

export type FakeExecReply =
  | {stdout?: string; stderr?: string; code?: number; delayMs?: number}
  /** Dies of a signal: `signal` without the SIG prefix, e.g. "KILL". */
  | {signal: string; stdout?: string; stderr?: string; delayMs?: number}
  /** Never answers (until the client closes the channel): for timeouts. */
  | {hang: true}
  /** Ends the whole SSH connection without an exit status: the VM went away. */
  | {drop: true; delayMs?: number}
  /** Prints over time (a load generator's line a second): `write` sends stdout now; the exit code when it resolves. */
  | {stream: (write: (text: string) => void) => Promise<{code?: number}>}

export interface FakeExecRequest {
  command: string
  /** Everything the client wrote to the command's standard input (read up to EOF). */
  stdin: string
  /** The SSH login user. */
  user: string
}

export type FakeExecHandler = (request: FakeExecRequest) => FakeExecReply | Promise<FakeExecReply>
/** A rule: a command (exact string or pattern) and its reply (or a function making one). */
export type FakeRule = [string | RegExp, FakeExecReply | FakeExecHandler]

export interface FakeSshServerOptions {
  /** Tried first to last; the first match answers. */
  rules?: FakeRule[]
  /** Answers commands no rule matched. Default: exit 127 "command not found", like a shell. */
  fallback?: FakeExecHandler
  /** Only this user may log in (default: any user with the test key). */
  user?: string
}

export interface FakeSshServer {
  host: string
  port: number
  /** Log in as `user` (default "chaos") with the test key. */
  targetFor(user?: string): SshTarget
  /** `targetFor('chaos')`. */
  target: SshTarget
  /** A fresh known_hosts file in a temporary folder (accept-new pins this server's key). */
  knownHosts: KnownHosts
  /** The test private key (OpenSSH format) and the file holding it. */
  identityFile: string
  privateKey: string
  /** The server's host public key (OpenSSH format). */
  hostPublicKey: string
  /** Every exec request, in arrival order. */
  requests: FakeExecRequest[]
  /** Replaces the rules (e.g. between steps of a scenario). */
  setRules(rules: FakeRule[]): void
  /** Ends every open connection now. */
  dropConnections(): void
  close(): Promise<void>
}

function matches(pattern: string | RegExp, command: string): boolean {
  return typeof pattern === 'string' ? pattern === command : pattern.test(command)
}

const commandNotFound: FakeExecHandler = ({command}) => ({code: 127, stderr: `sh: 1: ${command.split(/\s+/)[0] ?? ''}: not found\n`})

export async function startFakeSshServer(options: FakeSshServerOptions = {}): Promise<FakeSshServer> {
  const folder = mkdtempSync(join(tmpdir(), 'chaos-lab-fake-ssh-'))
  const hostKey = ssh2.utils.generateKeyPairSync('ed25519')
  const clientKey = ssh2.utils.generateKeyPairSync('ed25519')
  const allowed = ssh2.utils.parseKey(clientKey.public) as ParsedKey
  const identityFile = join(folder, 'id_ed25519')
  writeFileSync(identityFile, clientKey.private, {mode: 0o600})
  let rules = options.rules ?? []
  const fallback = options.fallback ?? commandNotFound
  const requests: FakeExecRequest[] = []
  const connections = new Set<Connection>()

  const reply = async (request: FakeExecRequest): Promise<FakeExecReply> => {
    const rule = rules.find(([pattern]) => matches(pattern, request.command))
    if (!rule) return fallback(request)
    return typeof rule[1] === 'function' ? rule[1](request) : rule[1]
  }

  const answer = (client: Connection, channel: ServerChannel, command: string, user: string) => {
    const chunks: Buffer[] = []
    channel.on('data', (chunk: Buffer) => chunks.push(chunk))
    channel.on('error', () => undefined)
    channel.once('end', () => {
      const request = {command, stdin: Buffer.concat(chunks).toString(), user}
      requests.push(request)
      void (async () => {
        let result: FakeExecReply
        try {
          result = await reply(request)
        } catch (error) {
          result = {code: 70, stderr: `fake VM handler failed: ${(error as Error).message}\n`}
        }
        if ('hang' in result) return
        if ('stream' in result) {
          const end = await result.stream((text) => { channel.write(text) })
          channel.exit(end.code ?? 0)
          channel.end()
          return
        }
        if (result.delayMs) await new Promise((resolve) => setTimeout(resolve, result.delayMs))
        if ('drop' in result) {
          client.end()
          return
        }
        if (result.stdout) channel.write(result.stdout)
        if (result.stderr) channel.stderr.write(result.stderr)
        if ('signal' in result) channel.exit(result.signal, false, '')
        else channel.exit(result.code ?? 0)
        channel.end()
      })()
    })
  }

  const server = new ssh2.Server({hostKeys: [hostKey.private]}, (client) => {
    connections.add(client)
    let user = ''
    client.on('error', () => undefined)
    client.on('close', () => connections.delete(client))
    client.on('authentication', (ctx: AuthContext) => {
      if (ctx.method !== 'publickey' || (options.user && ctx.username !== options.user)) {
        ctx.reject(['publickey'])
        return
      }
      const same = ctx.key.algo === allowed.type && ctx.key.data.equals(allowed.getPublicSSH())
      if (!same) { ctx.reject(['publickey']); return }
      if (ctx.signature && ctx.blob && !allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) {
        ctx.reject(['publickey'])
        return
      }
      user = ctx.username
      ctx.accept()
    })
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession()
        session.on('exec', (acceptExec, _reject, info) => {
          answer(client, acceptExec(), info.command, user)
        })
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('fake SSH server has no port')
  const port = address.port
  const targetFor = (user = 'chaos'): SshTarget => ({host: '127.0.0.1', port, user, identityFile, name: `fake-vm:${port}`})

  return {
    host: '127.0.0.1',
    port,
    targetFor,
    target: targetFor(),
    knownHosts: new KnownHosts(join(folder, 'known_hosts')),
    identityFile,
    privateKey: clientKey.private,
    hostPublicKey: hostKey.public,
    requests,
    setRules(next) { rules = next },
    dropConnections() {
      for (const client of connections) client.end()
    },
    async close() {
      for (const client of connections) client.end()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
      rmSync(folder, {recursive: true, force: true})
    },
  }
}
