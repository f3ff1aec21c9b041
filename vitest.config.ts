import {defineConfig} from 'vitest/config'

// CI (and anyone who sets CHAOS_LAB_TEST_RESULTS) also gets a JSON summary, from which .ci/run prints "N passed, N failed".
const resultsFile = process.env.CHAOS_LAB_TEST_RESULTS

export default defineConfig({
  test: {
    disableConsoleIntercept: true,
    // Opt-in end-to-end files, each run only when asked for, and not by `npm test` (so not in CI):
    // - test/e2e/desktop-vm.opt-in.ts, `npm run test:desktop`: the desktop profile on a GNOME test VM (~12 min), over
    //   CI's time budget, and it has not yet passed all its tests in one run;
    // - test/e2e/chapters-vm.opt-in.ts, `npm run test:chapters`: chapter 3 and lesson-3 on a test VM (~8 min, ~10 with
    //   its image's build); it has passed whole once, and its minutes would take CI too close to its 50-minute budget;
    // - test/e2e/chapter4-vm.opt-in.ts, `npm run test:chapters` too: chapter 4 and lesson-4 on a test VM of its own.
    include: process.env.CHAOS_LAB_DESKTOP_E2E
      ? ['test/e2e/desktop-vm.opt-in.ts']
      : process.env.CHAOS_LAB_CHAPTERS_E2E ? ['test/e2e/chapters-vm.opt-in.ts', 'test/e2e/chapter4-vm.opt-in.ts'] : ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One file at a time: the end-to-end files each boot QEMU guests, and experiments timed against systemd's
    // start limit must not share the 2 cores with another guest.
    fileParallelism: false,
    reporters: resultsFile ? ['default', 'json'] : ['default'],
    ...(resultsFile ? {outputFile: {json: resultsFile}} : {}),
  },
})
