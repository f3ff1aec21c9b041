import type {LabConfig, ProviderName} from '../config/schema.js'
import type {ProcessRunner} from '../process/runner.js'
import {
  architectureItem, configItem, diskItem, identityFileItem, libvirtdItem, memoryItem, portItem, probe, vagrantItem,
  vagrantLibvirtItem, virshItem, virtualboxItem, virtualizationItem, type DoctorContext, type DoctorItem,
} from './checks.js'
import type {HostFacts} from './host-facts.js'

export type {DoctorItem, DoctorStatus} from './checks.js'

/** `chaos-lab doctor --json`: a stable, documented shape. `ok` is false when any item failed. */
export interface DoctorReport {
  provider: ProviderName
  /** Absolute lab folder. */
  dir: string
  ok: boolean
  items: DoctorItem[]
}

export interface DoctorInput {
  config: LabConfig
  dir: string
  /** The chaos-lab.yaml the config came from; undefined when the doctor checked the defaults. */
  file: string | undefined
}

export interface DoctorDeps {
  runner: ProcessRunner
  host: HostFacts
  env: NodeJS.ProcessEnv
}

const VAGRANT_ENV = {VAGRANT_NO_COLOR: '1'}

/**
 * Preflight for the configured provider: can this computer create and drive the lab machine? Every probe runs
 * (concurrently; Vagrant starts slowly) so that one run lists every problem, each with its fix.
 */
export async function runDoctor(input: DoctorInput, deps: DoctorDeps): Promise<DoctorReport> {
  const {config, dir} = input
  const ctx: DoctorContext = {config, dir, runner: deps.runner, host: deps.host, env: deps.env}
  const items: DoctorItem[] = [configItem(config, input.file)]

  if (config.provider === 'ssh') {
    items.push(await identityFileItem(ctx))
  } else {
    const libvirt = config.provider === 'libvirt'
    const [vagrant, plugins, virsh, connect, virtualbox, virtualization, disk, port] = await Promise.all([
      probe(deps.runner, 'vagrant', ['--version'], VAGRANT_ENV),
      libvirt ? probe(deps.runner, 'vagrant', ['plugin', 'list'], VAGRANT_ENV) : undefined,
      libvirt ? probe(deps.runner, 'virsh', ['--version']) : undefined,
      libvirt ? probe(deps.runner, 'virsh', ['-c', config.libvirt.uri, 'version']) : undefined,
      libvirt ? undefined : virtualboxItem(ctx),
      virtualizationItem(ctx),
      diskItem(dir, deps.host),
      portItem(ctx),
    ])
    const found = vagrantItem(vagrant)
    items.push(found.item)
    if (libvirt) {
      items.push(vagrantLibvirtItem(vagrant, plugins))
      const virshFound = virsh ?? {kind: 'missing' as const}
      items.push(virshItem(virshFound), libvirtdItem(config, virshFound, connect))
    } else if (virtualbox) {
      items.push(virtualbox)
    }
    items.push(virtualization, architectureItem(config, deps.host, found.version), memoryItem(config, deps.host), disk, port)
  }
  return {provider: config.provider, dir, ok: items.every((i) => i.status !== 'fail'), items}
}
