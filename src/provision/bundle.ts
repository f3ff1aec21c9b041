import {createHash} from 'node:crypto'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join, relative, sep} from 'node:path'

import {chapterOfStep} from '../config/chapters.js'
import {ConfigError} from '../errors.js'
import {createTar, type TarEntry} from '../util/tar.js'
import {packagePath} from '../util/paths.js'

/** Where the bundle lives in the VM; the repo's Vagrantfile uses the same place. */
export const REMOTE_ROOT = '/var/lib/chaos-lab'
export const REMOTE_BUNDLE = `${REMOTE_ROOT}/provisioning`
export const REMOTE_STATE = `${REMOTE_ROOT}/state.json`

export interface ProvisioningStep {
  name: string
  /** Path of the script inside the bundle. */
  script: string
  /** Hash of everything the step reads (its script, the shared library, its own files, the profile). */
  hash: string
  /** The book's chapter this step provisions (step chapterN), or undefined for the steps every lab gets. */
  chapter?: number
}

/**
 * Settings of chaos-lab.yaml that reach every step as environment variables (CHAOS_LAB_APT_PROXY). A step whose
 * script declares one in a line `# settings: NAME…` reruns when its value changes; an empty value leaves the
 * step's hash as it was without the setting.
 */
export type StepSettings = Readonly<Record<string, string>>

export interface Bundle {
  files: TarEntry[]
  steps: ProvisioningStep[]
  settings: StepSettings
  /** Hash of the whole bundle: unchanged bundle + unchanged stamps = nothing to upload. */
  hash: string
}

function listFiles(root: string): TarEntry[] {
  const entries: TarEntry[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name)
      const stat = statSync(full)
      if (stat.isDirectory()) walk(full)
      else if (stat.isFile()) {
        entries.push({path: relative(root, full).split(sep).join('/'), mode: stat.mode & 0o111 ? 0o755 : 0o644, content: readFileSync(full)})
      }
    }
  }
  walk(root)
  return entries
}

function hashOf(files: readonly TarEntry[], extra: string): string {
  const hash = createHash('sha256')
  for (const file of files) hash.update(`${file.path}\0${file.mode}\0`).update(file.content).update('\0')
  return hash.update(extra).digest('hex').slice(0, 16)
}

/** The words of a step script's comment line `# KEY: a b c` (inputs: folders it reads; settings: variables). */
function declared(script: TarEntry, key: 'inputs' | 'settings'): string[] {
  const words = new RegExp(`^# ${key}:(.*)$`, 'm').exec(script.content.toString())?.[1]
  return words !== undefined ? words.trim().split(/\s+/).filter(Boolean) : []
}

/** What a step's hash covers besides its files: the profile, and each setting it declares that is not empty. */
function stepExtra(script: TarEntry, profile: string, settings: StepSettings): string {
  const used = declared(script, 'settings').filter((name) => (settings[name] ?? '') !== '')
  return [`profile=${profile}`, ...used.map((name) => `${name}=${settings[name] ?? ''}`)].join('\0')
}

/**
 * Reads provisioning/: `steps/ORDER` names the steps in order; step NAME runs `steps/NAME.sh`. A step's inputs
 * are its script, everything under `lib/`, everything under `files/NAME/` and the folders its `# inputs:` line
 * names, plus the profile and the settings its `# settings:` line names: changing one of them reruns the step,
 * changing anything else does not.
 */
export function loadBundle(profile: string, root = packagePath('provisioning'), settings: StepSettings = {}): Bundle {
  const files = listFiles(root)
  const order = files.find((file) => file.path === 'steps/ORDER')
  if (!order) throw new ConfigError(`The provisioning folder ${root} has no steps/ORDER file.`, {suggestion: 'Reinstall chaos-lab: its provisioning files are incomplete.'})
  const names = order.content.toString().split('\n').map((line) => line.replace(/#.*/, '').trim()).filter(Boolean)
  const shared = files.filter((file) => file.path.startsWith('lib/'))
  const steps = names.map((name) => {
    const script = `steps/${name}.sh`
    const scriptFile = files.find((file) => file.path === script)
    if (!scriptFile) throw new ConfigError(`steps/ORDER names the step "${name}" but ${script} does not exist.`, {suggestion: 'Reinstall chaos-lab: its provisioning files are incomplete.'})
    const folders = [`files/${name}/`, ...declared(scriptFile, 'inputs').map((folder) => folder.replace(/\/?$/, '/'))]
    const own = files.filter((file) => file.path === script || folders.some((folder) => file.path.startsWith(folder)))
    const chapter = chapterOfStep(name)
    return {name, script, hash: hashOf([...shared, ...own], stepExtra(scriptFile, profile, settings)), ...(chapter === undefined ? {} : {chapter})}
  })
  return {files, steps, settings, hash: hashOf(files, `profile=${profile}`)}
}

export function bundleTar(bundle: Bundle): Buffer {
  return createTar(bundle.files)
}
