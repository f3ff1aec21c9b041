import type {StateCheck} from '../schema.js'
import {evaluateOutput} from './expect.js'
import type {CheckRunner} from './types.js'

/** A command over SSH, held against expectations on its exit code, output and numbers in it. */
export const runState: CheckRunner<StateCheck> = async (check, ctx) => {
  const result = await ctx.exec(check.command)
  return evaluateOutput(check.expect, result, ctx.params, check.failMessage)
}
