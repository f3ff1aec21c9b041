import {stringify} from 'yaml'

import {ConfigError} from '../errors.js'
import {CHAPTERS, CLIPBOARD_MODES, DEFAULT_BOX, GRAPHICS_CONTROLLERS, LIBVIRT_DRIVERS, PROFILES, PROVIDERS, labConfigSchema, resolveConfig, type LabConfig} from './schema.js'

/** The lab config with nothing set: every value at its default, the book's VM. */
export function defaultLabConfig(): LabConfig {
  return resolveConfig(labConfigSchema.parse({}))
}

/** One YAML scalar (plain when it can be, quoted when it must be). */
function scalar(value: string | number | boolean): string {
  return stringify(value).trimEnd()
}

/**
 * The chaos-lab.yaml that `chaos-lab init` writes: every setting spelled out (at its default unless the config
 * says otherwise) with a one-line comment, in the order a reader meets them. Parsing it back gives `config`.
 */
export function initYaml(config: LabConfig): string {
  const or = (values: readonly string[]) => `${values.slice(0, -1).join(', ')} or ${values.at(-1) ?? ''}`
  const lines = [
    '# chaos-lab.yaml: the lab VM for the book "Chaos Engineering" (Mikolaj Pawlikowski), written by `chaos-lab init`.',
    '# Every setting is spelled out; the defaults are the book\'s VM. After a change run `chaos-lab doctor`, then `chaos-lab up`.',
    '',
    `# Where the lab runs: ${or(PROVIDERS)} (virtualbox and libvirt: a VM made with Vagrant; ssh: an existing host).`,
    `provider: ${scalar(config.provider)}`,
    `# ${or(PROFILES)}: desktop opens the VM's window (GUI); headless runs it without one.`,
    `profile: ${scalar(config.profile)}`,
    '# The VM\'s host name: lowercase letters, digits and inner hyphens. VirtualBox also names the VM after it.',
    `hostname: ${scalar(config.hostname)}`,
    `# Vagrant base box: ${DEFAULT_BOX.virtualbox} for virtualbox (amd64 and Apple Silicon), ${DEFAULT_BOX.libvirt} for libvirt.`,
    `box: ${scalar(config.box)}`,
    '# Memory of the VM in MB (the book\'s VM has 4096).',
    `memory: ${scalar(config.memory)}`,
    '# Number of virtual CPUs.',
    `cpus: ${scalar(config.cpus)}`,
    '# Port on this computer (127.0.0.1 only) that reaches the FizzBuzz load balancer, port 8003 in the VM.',
    `forwardedPort: ${scalar(config.forwardedPort)}`,
    '# A package cache for apt in the VM, e.g. http://192.0.2.10:3142 (an instructor\'s apt-cacher-ng); "" for none.',
    `aptProxy: ${scalar(config.aptProxy)}`,
    `# The book's chapters whose tools and programs the VM gets (chaos-lab provides ${CHAPTERS.join(', ')}); add one later with \`chaos-lab provision --chapters N\`.`,
    `chapters: [${config.chapters.join(', ')}]`,
    '',
    '# VirtualBox only: the VM settings the book asks for.',
    'virtualbox:',
    '  # Video memory in MB.',
    `  vram: ${scalar(config.virtualbox.vram)}`,
    `  # Shared clipboard between this computer and the VM: ${or(CLIPBOARD_MODES)}.`,
    `  clipboard: ${scalar(config.virtualbox.clipboard)}`,
    '  # Remote display (VRDE) server: true or false.',
    `  vrde: ${scalar(config.virtualbox.vrde)}`,
    `  # Graphics controller: ${or(GRAPHICS_CONTROLLERS)}.`,
    `  graphicsController: ${scalar(config.virtualbox.graphicsController)}`,
    '',
    '# libvirt only (Linux with vagrant-libvirt).',
    'libvirt:',
    `  # ${or(LIBVIRT_DRIVERS)}: kvm needs hardware virtualization (/dev/kvm); qemu emulates the CPU (slow, works anywhere).`,
    `  driver: ${scalar(config.libvirt.driver)}`,
    '  # The libvirt connection URI; qemu:///system is the system\'s libvirtd.',
    `  uri: ${scalar(config.libvirt.uri)}`,
    config.libvirt.memory === undefined
      ? `  # memory: ${config.memory}  # uncomment to give the libvirt VM other memory (MB) than \`memory\` above`
      : `  memory: ${scalar(config.libvirt.memory)}  # the libvirt VM's memory (MB), instead of \`memory\` above`,
    config.libvirt.cpus === undefined
      ? `  # cpus: ${config.cpus}  # uncomment to give the libvirt VM other CPUs than \`cpus\` above`
      : `  cpus: ${scalar(config.libvirt.cpus)}  # the libvirt VM's CPUs, instead of \`cpus\` above`,
    '',
    ...sshSection(config),
  ]
  return `${lines.join('\n')}\n`
}

function sshSection(config: LabConfig): string[] {
  if (!config.ssh) {
    return [
      '# ssh only: an existing host to use instead of a VM (set provider: ssh, then uncomment and fill in).',
      '# ssh:',
      '#   host: 192.0.2.10  # host name or IP address',
      '#   port: 22  # SSH port',
      '#   user: chaos  # a user who may run sudo without a password',
      '#   identityFile: ~/.ssh/id_ed25519  # the private key that logs in as that user',
    ]
  }
  return [
    '# ssh only: the existing host to use instead of a VM.',
    'ssh:',
    `  host: ${scalar(config.ssh.host)}  # host name or IP address`,
    `  port: ${scalar(config.ssh.port)}  # SSH port`,
    `  user: ${scalar(config.ssh.user)}  # a user who may run sudo without a password`,
    `  identityFile: ${scalar(config.ssh.identityFile)}  # the private key that logs in as that user`,
  ]
}

/** Validates init's flags with the chaos-lab.yaml schema; a bad one is a ConfigError (exit 2) naming the flag. */
export function configFromFlags(options: {provider?: string | undefined; profile?: string | undefined; box?: string | undefined}): LabConfig {
  const raw: Record<string, string> = {}
  for (const key of ['provider', 'profile', 'box'] as const) {
    const value = options[key]
    if (value !== undefined) raw[key] = value
  }
  const result = labConfigSchema.safeParse(raw)
  if (result.success) return resolveConfig(result.data)
  const problems = result.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '')
    return {flag: key in raw ? `--${key}` : undefined, message: issue.message}
  })
  const sshOnly = problems.some((p) => p.flag === undefined) && raw.provider === 'ssh'
  throw new ConfigError(`Invalid flags: ${problems.map((p) => (p.flag ? `${p.flag}: ${p.message}` : p.message)).join('; ')}.`, {
    suggestion: sshOnly
      ? 'init writes a lab for a Vagrant VM. For an existing host, run `chaos-lab init`, then set provider: ssh in chaos-lab.yaml and fill in its ssh section (host, user, identityFile).'
      : 'See `chaos-lab init --help` for the allowed values.',
    data: {problems},
  }, 'bad_flags')
}
