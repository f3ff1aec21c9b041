import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    disableConsoleIntercept: true,
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // e2e suites boot VMs; they run one file at a time so two QEMU guests never fight for the 2 cores.
    fileParallelism: true,
    reporters: ['default'],
  },
})
