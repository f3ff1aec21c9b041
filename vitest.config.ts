import {defineConfig} from 'vitest/config'

// CI (and anyone who sets CHAOS_LAB_TEST_RESULTS) also gets a JSON summary, from which .ci/run prints "N passed, N failed".
const resultsFile = process.env.CHAOS_LAB_TEST_RESULTS

export default defineConfig({
  test: {
    disableConsoleIntercept: true,
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: resultsFile ? ['default', 'json'] : ['default'],
    ...(resultsFile ? {outputFile: {json: resultsFile}} : {}),
  },
})
