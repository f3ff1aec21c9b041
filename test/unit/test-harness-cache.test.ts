import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {acquireLock, cachedBuild, sweepCache, type CachedBuildOptions} from '../helpers/vm/cache-build.js'

// The e2e harness's build-once caches (test image, fleet trees, libvirt box) share this helper.
let dir: string
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'chaos-lab-cache-build-'))
})
afterEach(() => {
  rmSync(dir, {recursive: true, force: true})
})

describe('cachedBuild', () => {

  const options = (overrides: Partial<CachedBuildOptions<string, number>> = {}): CachedBuildOptions<string, number> => ({
    cacheDir: path.join(dir, 'cache'),
    name: 'result',
    buildName: `.build-result-${process.pid}`,
    lock: {waitMs: 5000, pollMs: 10, timeoutMessage: (owner, lockPath) => `timed out on ${lockPath} (${owner})`},
    isComplete: (finalDir) => existsSync(path.join(finalDir, 'done')),
    fromCache: (finalDir) => `cached ${readFileSync(path.join(finalDir, 'done'), 'utf8')}`,
    build: (buildDir) => {
      writeFileSync(path.join(buildDir, 'done'), 'v1')
      return Promise.resolve(1)
    },
    fromBuild: (finalDir, built) => `built ${built} ${readFileSync(path.join(finalDir, 'done'), 'utf8')}`,
    ...overrides,
  })

  it('builds once into a scratch directory, renames it into place, then answers from the cache', async () => {
    const build = vi.fn((buildDir: string) => {
      expect(path.basename(buildDir)).toBe(`.build-result-${process.pid}`)
      writeFileSync(path.join(buildDir, 'done'), 'v1')
      return Promise.resolve(7)
    })
    expect(await cachedBuild(options({build}))).toBe('built 7 v1')
    expect(await cachedBuild(options({build}))).toBe('cached v1')
    expect(build).toHaveBeenCalledTimes(1)
    expect(readdirSync(path.join(dir, 'cache')).sort()).toEqual(['result'])
  })

  it('removes an incomplete result and runs beforeBuild under the lock before building', async () => {
    const cacheDir = path.join(dir, 'cache')
    mkdirSync(path.join(cacheDir, 'result'), {recursive: true})
    writeFileSync(path.join(cacheDir, 'result', 'stale'), '')
    const beforeBuild = vi.fn(() => {
      expect(existsSync(path.join(cacheDir, 'result.lock'))).toBe(true)
      expect(existsSync(path.join(cacheDir, 'result'))).toBe(false)
    })
    expect(await cachedBuild(options({beforeBuild}))).toBe('built 1 v1')
    expect(beforeBuild).toHaveBeenCalledTimes(1)
    expect(existsSync(path.join(cacheDir, 'result', 'stale'))).toBe(false)
    expect(existsSync(path.join(cacheDir, 'result.lock'))).toBe(false)
  })

  it('leaves neither the scratch directory nor the lock behind when the build fails', async () => {
    const failing = options({
      build: (buildDir) => {
        writeFileSync(path.join(buildDir, 'half'), '')
        return Promise.reject(new Error('build broke'))
      },
    })
    await expect(cachedBuild(failing)).rejects.toThrow('build broke')
    expect(readdirSync(path.join(dir, 'cache'))).toEqual([])
  })

  it('makes a concurrent caller wait for the one build and take its result from the cache', async () => {
    const build = vi.fn(async (buildDir: string) => {
      await new Promise((resolve) => setTimeout(resolve, 100))
      writeFileSync(path.join(buildDir, 'done'), 'v1')
      return 1
    })
    const onWait = vi.fn()
    const lock = {waitMs: 5000, pollMs: 10, onWait, timeoutMessage: () => 'timed out'}
    const results = await Promise.all([cachedBuild(options({build, lock})), cachedBuild(options({build, lock}))])
    expect(results.sort()).toEqual(['built 1 v1', 'cached v1'])
    expect(build).toHaveBeenCalledTimes(1)
    expect(onWait).toHaveBeenCalledTimes(1)
    expect(onWait).toHaveBeenCalledWith(process.pid)
  })
})

describe('acquireLock', () => {

  it('takes over the lock of a process that is gone', async () => {
    const lockPath = path.join(dir, 'x.lock')
    writeFileSync(lockPath, '2147483646\n') // Above any pid_max: no such process.
    const onStale = vi.fn()
    const release = await acquireLock(lockPath, {waitMs: 1000, pollMs: 10, onStale, timeoutMessage: () => 'timed out'})
    expect(onStale).toHaveBeenCalledWith(2147483646)
    expect(readFileSync(lockPath, 'utf8')).toBe(`${process.pid}\n`)
    release()
    expect(existsSync(lockPath)).toBe(false)
    release() // Idempotent.
  })

  it('gives up after waitMs on a live holder, naming it', async () => {
    const lockPath = path.join(dir, 'x.lock')
    writeFileSync(lockPath, `${process.pid}\n`)
    await expect(
      acquireLock(lockPath, {waitMs: 30, pollMs: 10, timeoutMessage: (owner, file) => `waited for ${file} held by ${owner}`}),
    ).rejects.toThrow(`waited for ${lockPath} held by ${process.pid}`)
  })

  it('gives up after maxAttempts looks even before waitMs', async () => {
    const lockPath = path.join(dir, 'x.lock')
    writeFileSync(lockPath, `${process.pid}\n`)
    const started = Date.now()
    await expect(acquireLock(lockPath, {waitMs: 60_000, pollMs: 10, maxAttempts: 3, timeoutMessage: () => 'gave up'})).rejects.toThrow('gave up')
    expect(Date.now() - started).toBeLessThan(5000)
  })
})

describe('sweepCache', () => {
  it('removes dead builds and results unused for too long; keeps the one in use, live builds, locked and fresh results', () => {
    const cache = path.join(dir, 'sweep')
    const made = (name: string, ageMs?: number) => {
      mkdirSync(path.join(cache, name), {recursive: true})
      if (ageMs === undefined) return
      const stamp = path.join(cache, name, 'last-used')
      writeFileSync(stamp, '')
      const when = new Date(Date.now() - ageMs)
      utimesSync(stamp, when, when)
    }
    // PID 2^22 + 1 is above Linux's pid_max: never a live process.
    made(`.img-build-aaaa-${2 ** 22 + 1}`)
    made(`.img-build-bbbb-${process.pid}`)
    made('img-0000000000000001', 10_000) // old
    made('img-0000000000000002', 10_000) // old, but the one in use
    made('img-0000000000000003', 10_000) // old, but being built (its lock file)
    writeFileSync(path.join(cache, 'img-0000000000000003.lock'), String(process.pid))
    made('img-0000000000000004', 10) // fresh
    made('img-0000000000000005') // never stamped: never used
    made('other-0000000000000006', 10_000) // another cache's
    const lines: string[] = []
    sweepCache(cache, {build: /^\.img-build-[0-9a-f]+-(\d+)$/, result: /^img-[0-9a-f]{16}$/, keep: 'img-0000000000000002', pruneAfterMs: 1000, label: 'img', log: (line) => lines.push(line)})
    expect(readdirSync(cache).sort()).toEqual([`.img-build-bbbb-${process.pid}`, 'img-0000000000000002', 'img-0000000000000003', 'img-0000000000000003.lock', 'img-0000000000000004', 'other-0000000000000006'])
    expect(lines).toEqual(expect.arrayContaining([`img: removing the leftover build .img-build-aaaa-${2 ** 22 + 1}`, 'img: removing the unused img-0000000000000001', 'img: removing the unused img-0000000000000005']))
  })
})
