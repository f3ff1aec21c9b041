import type {BehaviourCheck} from '../schema.js'
import {evaluateOutput} from './expect.js'
import {describeEnd, firstLine, type CheckRunner} from './types.js'

/**
 * A small experiment: setup, then run (load plus fault, measured), held against expectations. The runner runs
 * the teardown afterwards whatever happened (also after a timeout), inside the check's exclusive slot, so the VM
 * is put back before any other check looks at it.
 */
export const runBehaviour: CheckRunner<BehaviourCheck> = async (check, ctx) => {
  if (check.setup) {
    const setup = await ctx.exec(check.setup)
    if (setup.code !== 0) {
      const said = firstLine(setup.stderr) || firstLine(setup.stdout)
      return {status: 'error', message: `the experiment's setup did not work (${describeEnd(setup)}${said ? `: ${said}` : ''}), so it was not run`}
    }
  }
  const result = await ctx.exec(check.run)
  return evaluateOutput(check.expect, result, ctx.params, check.failMessage)
}
