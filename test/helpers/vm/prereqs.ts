import {nspawnUnavailableReason} from './nspawn.js'
import {which} from './run.js'

/** What ensureTestImage() and bootVm() run on the host. */
export const VM_TOOLS = [
  'debootstrap',
  'chroot',
  'mkfs.ext4',
  'truncate',
  'qemu-system-x86_64',
  'qemu-img',
  'ssh',
  'ssh-keygen',
] as const

/**
 * What an arm64 test image and VM need besides VM_TOOLS: the arm64 emulator, and qemu-user-static's aarch64
 * emulator for the image build's chroot (registered with binfmt_misc by scripts/build-test-image.sh).
 */
export const ARM64_TOOLS = ['qemu-system-aarch64', 'qemu-aarch64-static'] as const

/** What startContainer() runs on the host, besides the image tools. */
export const CONTAINER_TOOLS = ['systemd-nspawn', 'ip', 'iptables', 'mount', 'umount'] as const

export interface RequireOptions {
  /** The image build, containers and netns need root. */
  root?: boolean
}

/**
 * Checks that the host has what a machine-backed test needs. Returns undefined when it does, else the
 * reason to skip, for `describe.skipIf(reason !== undefined)`. On CI (CI=true) a missing tool is an
 * error instead: a CI run that silently skips the real-machine tests would pass for the wrong reason.
 */
export function requireTools(tools: readonly string[], options: RequireOptions = {}): string | undefined {
  const missing = tools.filter((tool) => !which(tool))
  const problems: string[] = []
  if (missing.length > 0) problems.push(`missing on this machine: ${missing.join(', ')}`)
  if (options.root && typeof process.getuid === 'function' && process.getuid() !== 0) problems.push('needs root')
  return verdict(problems.join('; '))
}

/** Like requireTools(CONTAINER_TOOLS), plus the kernel and cgroup checks startContainer() makes. */
export function requireContainers(): string | undefined {
  const tools = requireTools([...VM_TOOLS, ...CONTAINER_TOOLS], {root: true})
  if (tools) return tools
  return verdict(nspawnUnavailableReason() ?? '')
}

function verdict(reason: string): string | undefined {
  if (!reason) return undefined
  if (process.env.CI === 'true') throw new Error(`The real-machine tests cannot run on CI: ${reason}.`)
  return reason
}
