import {z} from 'zod'

/**
 * chaos-lab.yaml: every key has a default, and the defaults are the book's VM (chapter 2 "Setup"):
 * VirtualBox, 2 CPUs, 4096 MB, 64 MB video memory, bidirectional clipboard, remote display off, VMSVGA.
 */

export const PROVIDERS = ['virtualbox', 'libvirt', 'ssh'] as const
export type ProviderName = (typeof PROVIDERS)[number]
export const PROFILES = ['desktop', 'headless'] as const
export type Profile = (typeof PROFILES)[number]
export const CLIPBOARD_MODES = ['disabled', 'hosttoguest', 'guesttohost', 'bidirectional'] as const
export const GRAPHICS_CONTROLLERS = ['vmsvga', 'vboxsvga', 'vboxvga', 'none'] as const
export const LIBVIRT_DRIVERS = ['kvm', 'qemu'] as const
/**
 * The book's chapters chaos-lab provisions, each one step provisioning/steps/chapterN.sh (a unit test keeps the
 * two in step). The default of `chapters:`, like the book's VM, which carries every chapter's tools.
 */
export const CHAPTERS = [2, 3, 4] as const
export type Chapter = (typeof CHAPTERS)[number]

/**
 * The base boxes. bento/ubuntu-24.04 is published for VirtualBox on amd64 and arm64 (Apple Silicon) under one
 * name; Vagrant >= 2.4 picks the host's architecture. bento has no libvirt build, so libvirt uses the
 * roboxes generic box of the previous LTS, which has one.
 */
export const DEFAULT_BOX = {virtualbox: 'bento/ubuntu-24.04', libvirt: 'generic/ubuntu2204'} as const

// Values that reach the Vagrantfile or a shell: a tight alphabet first, quoting second.
const SAFE_BOX = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/
const SAFE_BOX_URL = /^(file|https?):\/\/[A-Za-z0-9._~/:%+-]+$/
const HOSTNAME = /^(?=.{1,63}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?$/
export const SAFE_PATH = /^[A-Za-z0-9._/~+@:\\ -]+$/
export const SAFE_HOST = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^[0-9a-fA-F:]+$/
export const SAFE_USER = /^[a-z_][a-z0-9_-]{0,31}$/

const wholeNumber = (what: string, unit: string, example: number, min: number, max: number) =>
  z.number({error: (issue) => issue.input === undefined
    ? `${what} is required`
    : `${what} must be a whole number of ${unit} (e.g. ${example}), not ${JSON.stringify(issue.input)}`})
    .int({error: `${what} must be a whole number of ${unit} (e.g. ${example})`})
    .min(min, {error: `${what} must be at least ${min} ${unit}`})
    .max(max, {error: `${what} must be at most ${max} ${unit}`})

const oneOf = <T extends readonly [string, ...string[]]>(what: string, values: T) =>
  z.enum(values, {error: (issue) => `${what} must be one of ${values.join(', ')}, not ${JSON.stringify(issue.input)}`})

const pattern = (what: string, re: RegExp, rule: string) =>
  z.string({error: `${what} must be text`}).regex(re, {error: `${what} ${rule}`})

export const memoryMb = wholeNumber('memory', 'MB', 4096, 512, 262_144)
export const cpuCount = wholeNumber('cpus', 'CPUs', 2, 1, 64)
/** `chapters: [2, 3]`: each one a chapter chaos-lab provides, listed once. */
const chaptersSchema = z.array(
  z.number({error: (issue) => `chapters must list chapter numbers (known: ${CHAPTERS.join(', ')}), not ${JSON.stringify(issue.input)}`})
    .refine((n) => (CHAPTERS as readonly number[]).includes(n), {
      error: (issue) => `chapters: ${JSON.stringify(issue.input)} is not a chapter chaos-lab provides; known chapters: ${CHAPTERS.join(', ')}`,
    }),
  {error: `chapters must be a list of chapter numbers such as [${CHAPTERS.join(', ')}]`},
).min(1, {error: `chapters must name at least one chapter (known: ${CHAPTERS.join(', ')})`})
  .refine((list) => new Set(list).size === list.length, {error: 'chapters lists a chapter twice'})
  .transform((list) => [...list].sort((a, b) => a - b))

const port = (what: string) => wholeNumber(what, 'port', 8003, 1, 65_535)

const virtualboxSchema = z.strictObject({
  vram: wholeNumber('virtualbox.vram', 'MB', 64, 1, 256).default(64),
  clipboard: oneOf('virtualbox.clipboard', CLIPBOARD_MODES).default('bidirectional'),
  vrde: z.boolean({error: 'virtualbox.vrde must be true or false'}).default(false),
  graphicsController: oneOf('virtualbox.graphicsController', GRAPHICS_CONTROLLERS).default('vmsvga'),
})

const libvirtSchema = z.strictObject({
  driver: oneOf('libvirt.driver', LIBVIRT_DRIVERS).default('kvm'),
  memory: memoryMb.optional(),
  cpus: cpuCount.optional(),
  /**
   * libvirt connection URI; qemu:///system is what vagrant-libvirt uses by default. Query parameters are allowed
   * for a libvirtd on another socket (qemu:///system?socket=/path/to/libvirt-sock).
   */
  uri: pattern('libvirt.uri', /^qemu(\+[a-z]+)?:\/\/[A-Za-z0-9._@/-]*(\?[A-Za-z0-9_]+=[A-Za-z0-9._/%+-]*(&[A-Za-z0-9_]+=[A-Za-z0-9._/%+-]*)*)?$/, 'must be a libvirt URI such as qemu:///system or qemu:///system?socket=/run/libvirt/libvirt-sock').default('qemu:///system'),
})

const sshSchema = z.strictObject({
  host: pattern('ssh.host', SAFE_HOST, 'must be a host name or IP address'),
  port: port('ssh.port').default(22),
  user: pattern('ssh.user', SAFE_USER, 'must be a Unix user name (lowercase letters, digits, _ and -)'),
  identityFile: pattern('ssh.identityFile', SAFE_PATH, 'must be a plain file path (no quotes, newlines, $, #, ;, |, & or backticks)'),
})

/**
 * A caching proxy for apt in the VM (an instructor's apt-cacher-ng): http(s)://HOST[:PORT][/PATH], or '' for none.
 * It ends up quoted in an apt.conf.d file, so the alphabet is tight: no quotes, spaces, semicolons or user:password.
 */
export const APT_PROXY = /^https?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?(\/[A-Za-z0-9._~%/-]*)?$/
const aptProxySchema = z.string({error: 'aptProxy must be text: an http:// or https:// URL such as http://192.0.2.10:3142, or "" for none'})
  .refine((value) => value === '' || APT_PROXY.test(value), {
    error: (issue) => `aptProxy must be an http:// or https:// URL such as http://192.0.2.10:3142 (an apt-cacher-ng), or "" for none, not ${JSON.stringify(issue.input)}`,
  })

export const labConfigSchema = z.strictObject({
  provider: oneOf('provider', PROVIDERS).default('virtualbox'),
  profile: oneOf('profile', PROFILES).default('desktop'),
  hostname: pattern('hostname', HOSTNAME, 'must be a host name: lowercase letters, digits and inner hyphens, at most 63').default('chaos-lab'),
  box: z.union([
    pattern('box', SAFE_BOX, 'must be a Vagrant box name like bento/ubuntu-24.04'),
    pattern('box', SAFE_BOX_URL, 'must be a box name or a plain file/http URL'),
  ], {error: 'box must be a Vagrant box name like bento/ubuntu-24.04 (letters, digits, . _ - and one /)'}).optional(),
  memory: memoryMb.default(4096),
  cpus: cpuCount.default(2),
  forwardedPort: port('forwardedPort').default(8003),
  chapters: chaptersSchema.default([...CHAPTERS]),
  virtualbox: virtualboxSchema.prefault({}),
  libvirt: libvirtSchema.prefault({}),
  ssh: sshSchema.optional(),
  aptProxy: aptProxySchema.default(''),
}).superRefine((config, ctx) => {
  if (config.provider === 'ssh' && !config.ssh) {
    ctx.addIssue({code: 'custom', path: ['ssh'], message: 'provider ssh needs an ssh section with host, user and identityFile'})
  }
})

export type LabConfigInput = z.input<typeof labConfigSchema>
export type ParsedLabConfig = z.output<typeof labConfigSchema>

/** The config with every choice made: the box resolved for the provider, GUI from the profile. */
export interface LabConfig extends ParsedLabConfig {
  box: string
  gui: boolean
  /** Memory and CPUs the chosen provider will really give the VM. */
  vm: {memory: number; cpus: number}
}

export function resolveConfig(parsed: ParsedLabConfig): LabConfig {
  const vm = parsed.provider === 'libvirt'
    ? {memory: parsed.libvirt.memory ?? parsed.memory, cpus: parsed.libvirt.cpus ?? parsed.cpus}
    : {memory: parsed.memory, cpus: parsed.cpus}
  const box = parsed.box ?? (parsed.provider === 'libvirt' ? DEFAULT_BOX.libvirt : DEFAULT_BOX.virtualbox)
  return {...parsed, box, gui: parsed.profile === 'desktop', vm}
}

/** Every top-level and nested key, for "did you mean" suggestions. */
export const KNOWN_KEYS: Record<string, readonly string[]> = {
  '': Object.keys(labConfigSchema.shape),
  virtualbox: Object.keys(virtualboxSchema.shape),
  libvirt: Object.keys(libvirtSchema.shape),
  ssh: Object.keys(sshSchema.shape),
}
