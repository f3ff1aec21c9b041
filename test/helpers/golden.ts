/**
 * UPDATE_GOLDEN=1 asks golden-file tests to rewrite their files instead of comparing. Never under CI: there it
 * would turn every golden comparison into a pass. Read at call time, so a test can prove the refusal.
 */
export function updateGolden(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.UPDATE_GOLDEN !== '1') return false
  if (env.CI === 'true') {
    throw new Error('UPDATE_GOLDEN=1 under CI=true: golden files are only rewritten by a person, who reviews the diff. Unset UPDATE_GOLDEN on CI.')
  }
  return true
}

/** A check that needs a tool this machine lacks: fails under CI (which installs every tool), else says so. */
export function toolMissing(what: string, env: NodeJS.ProcessEnv = process.env): void {
  if (env.CI === 'true') throw new Error(`CI=true but ${what} is missing: .ci/run installs it.`)
  console.warn(`skipped: ${what} is missing`)
}
