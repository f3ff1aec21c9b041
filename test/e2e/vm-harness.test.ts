import {existsSync, statSync} from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {hostAptSources, hostMirror, urisInSourcesText} from '../helpers/vm/apt-sources.js'
import {ensureTestImage, type TestImage} from '../helpers/vm/image.js'
import {startContainer, type Container} from '../helpers/vm/nspawn.js'
import {VM_TOOLS, requireContainers, requireTools} from '../helpers/vm/prereqs.js'
import {bootVm, killVm, type RunningVm} from '../helpers/vm/qemu.js'
import {isAlive} from '../helpers/vm/run.js'

const vmSkip = requireTools(VM_TOOLS, {root: true})
const containerSkip = vmSkip ?? requireContainers()
if (vmSkip) console.warn(`vm-harness: skipped: ${vmSkip}`)
else if (containerSkip) console.warn(`vm-harness: container tests skipped: ${containerSkip}`)

const report = (line: string) => {
  console.log(`vm-harness: ${line}`)
}

describe.skipIf(vmSkip !== undefined)('the real-VM test harness', () => {
  let image: TestImage
  let vm: RunningVm | undefined

  beforeAll(async () => {
    const started = Date.now()
    image = await ensureTestImage({log: report})
    report(`image ${image.key}: ${image.built ? 'built' : 'reused from the cache'} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    const disk = statSync(image.diskPath)
    report(`disk.img: ${(disk.size / 2 ** 30).toFixed(1)} GiB apparent, ${((disk.blocks * 512) / 2 ** 20).toFixed(0)} MiB used`)
    vm = await bootVm({image, name: 'harness'})
    report(`QEMU (${process.env.CHAOS_LAB_TEST_KVM === '1' ? 'KVM' : 'TCG'}) answered SSH ${(vm.bootMs / 1000).toFixed(1)} s after launch`)
  }, 40 * 60_000)

  afterAll(async () => {
    await vm?.stop()
  }, 60_000)

  function machine(): RunningVm {
    if (!vm) throw new Error('the VM did not boot')
    return vm
  }

  it('reuses the cached image on the next call', async () => {
    const started = Date.now()
    const again = await ensureTestImage()
    const seconds = (Date.now() - started) / 1000
    report(`cached reuse took ${seconds.toFixed(2)} s`)
    expect(again.built).toBe(false)
    expect(again.key).toBe(image.key)
  })

  it('is an x86_64 machine', async () => {
    const result = await machine().ssh('uname -m')
    expect(result).toMatchObject({code: 0, stdout: 'x86_64\n'})
  })

  it('gives admin passwordless sudo and nosudo none', async () => {
    expect((await machine().ssh('sudo -n true')).code).toBe(0)
    const denied = await machine().ssh('sudo -n true', {user: 'nosudo'})
    expect(denied.code).toBe(1)
    expect(denied.stderr).toMatch(/password is required/)
  })

  it('has no swap', async () => {
    const result = await machine().ssh('swapon --show')
    expect(result).toMatchObject({code: 0, stdout: ''})
  })

  it('finishes booting: running or degraded', async () => {
    const result = await machine().ssh('timeout 120 systemctl is-system-running --wait', {timeoutMs: 150_000})
    if (result.stdout.trim() === 'degraded') report(`degraded: ${(await machine().ssh('systemctl --failed --no-legend')).stdout}`)
    expect(['running', 'degraded']).toContain(result.stdout.trim())
  }, 180_000)

  it("installs from the host's own Debian mirror", async () => {
    const result = await machine().ssh('cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null; true')
    const inside = new Set(urisInSourcesText(result.stdout))
    const host = hostMirror()
    const hostUris = new Set(hostAptSources().map((source) => source.uri.replace(/\/+$/, '')))
    expect(inside.has(host.mirror)).toBe(true)
    for (const uri of inside) expect(hostUris.has(uri)).toBe(true)
  })

  describe.skipIf(containerSkip !== undefined)('systemd-nspawn containers', () => {
    const containers: Container[] = []

    afterAll(async () => {
      await Promise.all(containers.map((container) => container.stop()))
    }, 60_000)

    it('starts two at once, each answering SSH', async () => {
      const started = Date.now()
      const results = await Promise.allSettled(
        ['fleet-a', 'fleet-b'].map((name) => startContainer({image, name, memoryMb: 512})),
      )
      for (const result of results) if (result.status === 'fulfilled') containers.push(result.value)
      const failed = results.find((result) => result.status === 'rejected')
      if (failed) throw failed.reason
      report(
        `2 containers answered SSH in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
          `(each: ${containers.map((container) => `${(container.bootMs / 1000).toFixed(1)} s`).join(', ')})`,
      )

      for (const container of containers) {
        const result = await container.ssh('hostname; sudo -n true && echo sudo-ok; cat /sys/fs/cgroup/memory/memory.limit_in_bytes')
        expect(result.code).toBe(0)
        expect(result.stdout).toBe(`${container.name}\nsudo-ok\n${512 * 1024 * 1024}\n`)
      }
      expect(new Set(containers.map((container) => container.host)).size).toBe(2)
    }, 120_000)

    it('stop() removes the container and its network namespace', async () => {
      const container = containers.pop()
      if (!container) throw new Error('no container started')
      await container.stop()
      expect(existsSync(container.dir)).toBe(false)
      expect(existsSync(`/run/netns/${container.netns}`)).toBe(false)
      const after = await container.ssh('true', {timeoutMs: 20_000})
      expect(after.code).not.toBe(0)
    }, 60_000)
  })

  it('killVm() kills QEMU at once, like a crash; stop() then cleans up', async () => {
    const crashed = machine()
    killVm(crashed)
    const result = await crashed.ssh('true', {timeoutMs: 20_000})
    expect(result.code).not.toBe(0)
    expect(isAlive(crashed.pid)).toBe(false)
    await crashed.stop()
    expect(existsSync(crashed.dir)).toBe(false)
    vm = undefined
  }, 60_000)
})
