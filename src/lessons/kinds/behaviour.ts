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
  // No fault, no experiment: a killer that killed nothing (refused sudo, nothing running, a no-op) proves nothing
  // about the hypothesis, so it is no verdict rather than a pass.
  const injected = evaluateOutput(check.injected, result, ctx.params)
  if (injected.status !== 'pass') {
    return {status: 'error', message: `the experiment's fault was not injected, so it says nothing (${injected.message})`}
  }
  return evaluateOutput(check.expect, result, ctx.params, check.failMessage)
}
