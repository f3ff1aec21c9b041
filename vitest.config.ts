import {defineConfig} from 'vitest/config'

// CI (and anyone who sets CHAOS_LAB_TEST_RESULTS) also gets a JSON summary, from which .ci/run prints "N passed, N failed".
const resultsFile = process.env.CHAOS_LAB_TEST_RESULTS

export default defineConfig({
  test: {
    disableConsoleIntercept: true,
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One file at a time: the end-to-end files each boot QEMU guests, and experiments timed against systemd's
    // start limit must not share the 2 cores with another guest.
    fileParallelism: false,
    reporters: resultsFile ? ['default', 'json'] : ['default'],
    ...(resultsFile ? {outputFile: {json: resultsFile}} : {}),
  },
})
