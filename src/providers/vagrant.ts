import {ToolError} from '../errors.js'
import {CommandNotFoundError, type ProcessRunner, type RunResult} from '../process/runner.js'
import type {SshTarget} from '../ssh/target.js'

export const VAGRANT_INSTALL_HINT =
  'Install Vagrant (https://developer.hashicorp.com/vagrant/install; on Debian/Ubuntu `sudo apt-get install vagrant`), then run `chaos-lab doctor`.'
export const PRISTINE_SNAPSHOT = 'chaos-lab-pristine'
/** The one machine a chaos-lab Vagrantfile defines. */
export const MACHINE = 'default'

export interface VagrantStatus {
  machine: string
  /** Vagrant's state name: running, poweroff, not_created, shutoff, saved… */
  state: string
  provider: string
}

export type LineSink = (line: string, stream: 'stdout' | 'stderr') => void

/** Drives the `vagrant` binary in a lab folder. All process starts go through the injected runner. */
export class Vagrant {
  constructor(private readonly runner: ProcessRunner, private readonly labDir: string, private readonly env: Record<string, string | undefined> = {}) {}

  private async vagrant(args: string[], what: string, onLine?: LineSink): Promise<RunResult> {
    let result: RunResult
    try {
      result = await this.runner.run('vagrant', args, {cwd: this.labDir, env: {VAGRANT_NO_COLOR: '1', ...this.env}, onLine})
    } catch (error) {
      if (error instanceof CommandNotFoundError) throw new CommandNotFoundError('vagrant', VAGRANT_INSTALL_HINT)
      throw error
    }
    if (result.exitCode !== 0) throw vagrantFailed(what, args, result, onLine !== undefined)
    return result
  }

  async version(): Promise<string> {
    const {stdout} = await this.vagrant(['--version'], 'report its version')
    return stdout.replace(/^Vagrant\s+/, '').trim()
  }

  async up(provider: string, onLine?: LineSink): Promise<void> {
    // chaos-lab provisions over its own SSH connection (resumable, stamped); Vagrant's provisioners are for plain `vagrant up`.
    await this.vagrant(['up', '--provider', provider, '--no-provision'], 'start the VM', onLine)
  }

  async status(): Promise<VagrantStatus> {
    const {stdout} = await this.vagrant(['status', '--machine-readable'], 'report the VM status')
    return parseMachineReadableStatus(stdout)
  }

  async sshConfig(): Promise<Omit<SshTarget, 'name'> & {name: string}> {
    const {stdout} = await this.vagrant(['ssh-config', MACHINE], 'tell how to reach the VM over SSH')
    return parseSshConfig(stdout)
  }

  async halt(onLine?: LineSink): Promise<void> {
    await this.vagrant(['halt', MACHINE], 'stop the VM', onLine)
  }

  async destroy(onLine?: LineSink): Promise<void> {
    await this.vagrant(['destroy', '--force', MACHINE], 'destroy the VM', onLine)
  }

  async snapshots(): Promise<string[]> {
    const result = await this.runner.run('vagrant', ['snapshot', 'list', '--machine-readable', MACHINE], {cwd: this.labDir, env: {VAGRANT_NO_COLOR: '1', ...this.env}})
    if (result.exitCode !== 0) return []
    return parseSnapshotList(result.stdout)
  }

  async saveSnapshot(name: string, onLine?: LineSink): Promise<void> {
    await this.vagrant(['snapshot', 'save', '--force', MACHINE, name], `save the snapshot ${name}`, onLine)
  }

  async restoreSnapshot(name: string, onLine?: LineSink): Promise<void> {
    await this.vagrant(['snapshot', 'restore', '--no-provision', MACHINE, name], `restore the snapshot ${name}`, onLine)
  }
}

function lastLines(text: string, count: number): string[] {
  return text.split('\n').filter((line) => line.trim() !== '').slice(-count)
}

/** `streamed`: Vagrant's lines went to a progress view as it printed them. */
function vagrantFailed(what: string, args: string[], result: RunResult, streamed: boolean): ToolError {
  return new ToolError(`Vagrant could not ${what} (\`vagrant ${args.join(' ')}\` exited with ${result.exitCode}).`, {
    suggestion: 'Run `chaos-lab doctor` to check Vagrant and the provider, fix what it reports, then try again.',
    data: {args, exitCode: result.exitCode},
    output: lastLines(`${result.stdout}\n${result.stderr}`, 12),
    outputStreamed: streamed,
  }, 'vagrant_failed')
}

/** `vagrant status --machine-readable`: lines of `timestamp,target,type,data…`. */
export function parseMachineReadableStatus(stdout: string): VagrantStatus {
  const status: VagrantStatus = {machine: MACHINE, state: 'unknown', provider: 'unknown'}
  for (const line of stdout.split('\n')) {
    const [, target, type, ...data] = line.split(',')
    if (!target || !type) continue
    if (type === 'state') { status.machine = target; status.state = data[0] ?? 'unknown' }
    if (type === 'provider-name') status.provider = data[0] ?? 'unknown'
  }
  return status
}

/** `vagrant snapshot list --machine-readable`: `…,ui,detail,NAME` lines (or plain names in older versions). */
export function parseSnapshotList(stdout: string): string[] {
  const names: string[] = []
  for (const line of stdout.split('\n')) {
    const fields = line.split(',')
    if (fields.length >= 4 && fields[2] === 'ui' && fields[3] === 'detail') {
      const name = fields.slice(4).join(',').trim()
      if (name && !/^No snapshots/i.test(name)) names.push(name)
    }
  }
  return names
}

/** `vagrant ssh-config` prints an OpenSSH config block; we need HostName, Port, User and the first IdentityFile. */
export function parseSshConfig(stdout: string): SshTarget {
  const values = new Map<string, string>()
  let name = MACHINE
  for (const raw of stdout.split('\n')) {
    const [, rawKey, rawValue] = /^\s*(\S+)\s+(.*?)\s*$/.exec(raw) ?? []
    if (rawKey === undefined || rawValue === undefined) continue
    const key = rawKey.toLowerCase()
    const value = rawValue.replace(/^"(.*)"$/, '$1')
    if (key === 'host') name = value
    else if (!values.has(key)) values.set(key, value)
  }
  const host = values.get('hostname')
  const port = Number(values.get('port') ?? 22)
  const user = values.get('user')
  const identityFile = values.get('identityfile')
  if (!host || !user || !identityFile || !Number.isInteger(port)) {
    throw new ToolError('`vagrant ssh-config` did not say how to reach the VM (HostName, Port, User, IdentityFile).', {
      suggestion: 'Is the VM running? Check `chaos-lab status`, then `chaos-lab up`.',
    }, 'vagrant_ssh_config')
  }
  return {host, port, user, identityFile, name}
}
