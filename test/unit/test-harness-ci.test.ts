// The test harness itself under CI=true: nothing that would make a check pass silently.
import {describe, expect, it} from 'vitest'

import {cliEnv, runCli} from '../helpers/cli.js'
import {toolMissing, updateGolden} from '../helpers/golden.js'

describe('under CI', () => {
  it('golden helpers refuse UPDATE_GOLDEN (it would turn every comparison into a pass)', () => {
    expect(() => updateGolden({UPDATE_GOLDEN: '1', CI: 'true'})).toThrow(/UPDATE_GOLDEN=1 under CI=true/)
    expect(updateGolden({UPDATE_GOLDEN: '1'})).toBe(true)
    expect(updateGolden({CI: 'true'})).toBe(false)
  })

  it('a missing tool fails instead of passing silently', () => {
    expect(() => { toolMissing('python3', {CI: 'true'}) }).toThrow(/CI=true but python3 is missing/)
  })

  it('e2e runs of the built binary set NODE_ENV=production: oclif loads dist/ and never looks for src/', async () => {
    expect(process.env.NODE_ENV).toBe('test') // what vitest gives every child unless told otherwise
    expect(cliEnv({NODE_ENV: 'development'}).NODE_ENV).toBe('production')
    // oclif's own debug log says where it loads the command from and whether it looked for TypeScript sources.
    const result = await runCli(['labs', '--json'], {env: {DEBUG: 'oclif:config*'}, timeoutMs: 60_000})
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toMatch(/\(import\) \S*dist\/commands\/labs\/index\.js/)
    expect(result.stderr).toMatch(/Skipping typescript path lookup .* NODE_ENV is NOT "test" or "development"/)
    expect(result.stderr).not.toMatch(/Found source directory/)
  }, 90_000)
})
