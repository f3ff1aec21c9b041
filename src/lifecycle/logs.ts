import {join} from 'node:path'

import {labStateDir, userConfigDir} from '../util/paths.js'

/** A new log file for one run: in the lab folder's .chaos-lab/logs, or the user's config folder without one. */
export function newLogFile(kind: string, labDir: string | undefined, now: Date, env: NodeJS.ProcessEnv): string {
  const stamp = now.toISOString().replace(/[:.]/g, '-')
  const base = labDir ? labStateDir(labDir) : userConfigDir(env)
  return join(base, 'logs', `${kind}-${stamp}.log`)
}
