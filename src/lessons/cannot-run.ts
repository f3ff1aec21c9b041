import {ChaosLabError, ExitCode} from '../errors.js'

/** The check could not run to a verdict (a truth command failed, sudo refused): reported as `error`. */
export class CheckCannotRunError extends ChaosLabError {
  constructor(message: string, suggestion?: string) {
    super('check_cannot_run', ExitCode.checksFailed, message, suggestion ? {suggestion} : {})
  }
}
