import {describe, expect, it} from 'vitest'

import {ensureTestImage, KERNEL_PACKAGES} from '../helpers/vm/image.js'
import {machineFor} from '../helpers/vm/qemu.js'

describe('the test VM harness\'s architectures', () => {
  it('boots arm64 on QEMU\'s virt board with a serial console the kernel knows there, amd64 as before', () => {
    expect(machineFor('arm64')).toEqual({binary: 'qemu-system-aarch64', args: ['-machine', 'virt', '-cpu', 'cortex-a72', '-accel', 'tcg'], console: 'ttyAMA0'})
    const amd64 = machineFor('amd64')
    expect(amd64.binary).toBe('qemu-system-x86_64')
    expect(amd64.console).toBe('ttyS0')
  })

  it('installs each architecture\'s own Debian kernel', () => {
    expect(KERNEL_PACKAGES.arm64).toEqual(['linux-image-arm64'])
    expect(KERNEL_PACKAGES.amd64).toEqual(['linux-image-amd64'])
  })

  it('refuses an architecture it does not build, before anything is built', async () => {
    await expect(ensureTestImage({arch: 'riscv64' as 'arm64'})).rejects.toThrow(/No test image for the architecture 'riscv64': the harness builds amd64 and arm64/)
  })
})
