import {closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync, writeSync} from 'node:fs'
import path from 'node:path'

import {isAlive, listDir, removeTreeSync, sleep} from './run.js'

/**
 * Build-once caches of the test harness (the test image, the fleet's derived trees, the libvirt box): a
 * result is built into a scratch directory next to its place and renamed into place only when complete, under
 * a lock file, so concurrent test processes wait for one build and never see half of one.
 */

export interface SweepOptions {
  /** A leftover build's name; its first group is the PID of the process that made it. */
  build: RegExp
  /** A cached result's name. */
  result: RegExp
  /** The result in use (never removed). */
  keep: string
  pruneAfterMs: number
  /** What the log calls these results ("desktop image"); nothing is logged without it. */
  label?: string
  log?: (line: string) => void
}

/**
 * Removes, from one cache's directory, leftover builds whose process died and results not used (their `last-used`
 * stamp) for `pruneAfterMs`, except `keep` and a result whose lock file says it is being built. Call it under the
 * cache's lock.
 */
export function sweepCache(cacheDir: string, options: SweepOptions): void {
  const say = (line: string) => { if (options.label) options.log?.(`${options.label}: ${line}`) }
  for (const name of listDir(cacheDir)) {
    const full = path.join(cacheDir, name)
    const build = options.build.exec(name)
    if (build) {
      if (!isAlive(Number(build[1]))) {
        say(`removing the leftover build ${name}`)
        removeTreeSync(full)
      }
      continue
    }
    if (!options.result.test(name) || name === options.keep || existsSync(`${full}.lock`)) continue
    let used = 0
    try {
      used = statSync(path.join(full, 'last-used')).mtimeMs
    } catch {
      // Never used.
    }
    if (Date.now() - used > options.pruneAfterMs) {
      say(`removing the unused ${name}`)
      removeTreeSync(full)
    }
  }
}

/** Stamps a cached result as in use now (its `last-used` file's mtime, which the caches' sweeps read). */
export function touchLastUsed(dir: string): void {
  const stamp = path.join(dir, 'last-used')
  const now = new Date()
  try {
    utimesSync(stamp, now, now)
  } catch {
    writeFileSync(stamp, '')
  }
}

export interface LockOptions {
  /** How long to wait for another process's build. */
  waitMs: number
  /** How long to sleep between looks at the lock. */
  pollMs: number
  /** Give up after this many looks even before waitMs (counting takeovers of stale locks); default no limit. */
  maxAttempts?: number
  /** Called when the lock of a process that is gone is taken over. */
  onStale?: (owner: number) => void
  /** Called once, the first time the lock is found held by a live process. */
  onWait?: (owner: number) => void
  /** The error message when the wait is over (`owner`: the holder last seen, NaN when unknown). */
  timeoutMessage: (owner: number, lockPath: string) => string
}

/**
 * Takes the lock file with O_EXCL (it holds the owner's PID); a lock whose owner process is gone is taken
 * over. Bounded wait. Returns the function that releases the lock.
 */
export async function acquireLock(lockPath: string, options: LockOptions): Promise<() => void> {
  const deadline = Date.now() + options.waitMs
  const maxAttempts = options.maxAttempts ?? Number.POSITIVE_INFINITY
  let announced = false
  let owner = Number.NaN
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx')
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return () => {
        try {
          unlinkSync(lockPath)
        } catch {
          // Already gone.
        }
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    owner = Number.NaN
    try {
      owner = Number.parseInt(readFileSync(lockPath, 'utf8'), 10)
    } catch {
      continue // Released between our open and our read: try again.
    }
    if (Number.isInteger(owner) && !isAlive(owner)) {
      options.onStale?.(owner)
      try {
        unlinkSync(lockPath)
      } catch {
        // Someone else removed it first.
      }
      continue
    }
    if (Date.now() > deadline) break
    if (!announced) options.onWait?.(owner)
    announced = true
    await sleep(options.pollMs)
  }
  throw new Error(options.timeoutMessage(owner, lockPath))
}

export interface CachedBuildOptions<T, B> {
  /** The cache directory the result and its scratch build directory live in (created when missing). */
  cacheDir: string
  /** The result's directory name in cacheDir; its lock file is `<name>.lock` next to it. */
  name: string
  /** The scratch directory's name in cacheDir (it should name this process, for sweeps of dead builds). */
  buildName: string
  lock: LockOptions
  /** Whether the result's directory holds a complete result. */
  isComplete: (finalDir: string) => boolean
  /** The result from a complete directory that this call did not build. */
  fromCache: (finalDir: string) => T
  /** Under the lock, before building: sweeps of the cache, checks that the build can run. */
  beforeBuild?: () => void
  /**
   * Fills the scratch directory (`startedAt`: Date.now() just before it was made). Its return value goes to
   * fromBuild once the directory has been renamed into place.
   */
  build: (buildDir: string, startedAt: number) => Promise<B>
  /** The result just built, after the rename, still under the lock. */
  fromBuild: (finalDir: string, built: B) => T
}

/**
 * Returns the cached result, building it first when the cache has none: under `<name>.lock` (looking again
 * once it is held), an incomplete result directory is removed, beforeBuild() runs, build() fills
 * `<buildName>`, which is renamed to `<name>`. A failed build leaves no scratch directory behind.
 */
export async function cachedBuild<T, B>(options: CachedBuildOptions<T, B>): Promise<T> {
  const finalDir = path.join(options.cacheDir, options.name)
  if (options.isComplete(finalDir)) return options.fromCache(finalDir)
  mkdirSync(options.cacheDir, {recursive: true})
  const release = await acquireLock(`${finalDir}.lock`, options.lock)
  try {
    if (options.isComplete(finalDir)) return options.fromCache(finalDir)
    if (existsSync(finalDir)) removeTreeSync(finalDir) // An incomplete result: never renamed into place by us.
    options.beforeBuild?.()
    const startedAt = Date.now()
    const buildDir = path.join(options.cacheDir, options.buildName)
    if (existsSync(buildDir)) removeTreeSync(buildDir)
    mkdirSync(buildDir)
    try {
      const built = await options.build(buildDir, startedAt)
      renameSync(buildDir, finalDir)
      return options.fromBuild(finalDir, built)
    } finally {
      if (existsSync(buildDir)) removeTreeSync(buildDir)
    }
  } finally {
    release()
  }
}
