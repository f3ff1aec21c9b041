import {describe, expect, it} from 'vitest'

import {ChaosLabError, ConfigError, InternalError, LocalWriteError, MachineStepError, ToolError, UnreachableError, UsageError} from '../../src/errors.js'
import {BackupFailedError, BackupUnwritableError} from '../../src/reset/backup.js'
import {NoSudoError, StepFailedError} from '../../src/provision/provisioner.js'
import {ConnectionLostError} from '../../src/ssh/session.js'
import {CommandNotFoundError} from '../../src/process/runner.js'

describe('errors by meaning', () => {
  it('each kind has its exit code, its default code and its own name', () => {
    const kinds = [
      [UsageError, 2, 'usage'], [ConfigError, 2, 'config_invalid'], [UnreachableError, 3, 'unreachable'],
      [MachineStepError, 3, 'step_failed'], [ToolError, 3, 'tool_failed'], [LocalWriteError, 3, 'local_write_failed'],
      [InternalError, 4, 'internal'],
    ] as const
    for (const [Kind, exitCode, code] of kinds) {
      const error = new Kind('what happened', {suggestion: 'what to do'})
      expect(error).toBeInstanceOf(ChaosLabError)
      expect({name: error.name, exitCode: error.exitCode, code: error.code}).toEqual({name: Kind.name, exitCode, code})
      expect(error.describe()).toBe('what happened\nwhat to do')
    }
  })

  it('says what went wrong by class, not by code: only a machine that could not be reached is UnreachableError', () => {
    const target = {host: '192.0.2.1', port: 22, user: 'chaos', identityFile: '/k', name: 'vm'}
    expect(new ConnectionLostError(target, 'reset')).toBeInstanceOf(UnreachableError)
    for (const error of [new StepFailedError('base', 1, null, [], undefined), new NoSudoError('chaos', 'vm'), new BackupFailedError('vm', 'tar failed')]) {
      expect(error).toBeInstanceOf(MachineStepError)
      expect(error).not.toBeInstanceOf(UnreachableError)
    }
    expect(new BackupUnwritableError('vm', '/full/disk.tar.gz', 'ENOSPC')).toBeInstanceOf(LocalWriteError)
    expect(new BackupUnwritableError('vm', '/full/disk.tar.gz', 'ENOSPC')).not.toBeInstanceOf(UnreachableError)
    expect(new CommandNotFoundError('vagrant', 'install it')).toBeInstanceOf(ToolError)
  })
})
