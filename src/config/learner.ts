/**
 * The learner's account in the lab VM, as the book has it: user chaos (password chaos, passwordless sudo).
 * Provisioning creates it (CHAOS_LAB_USER), lessons check its files, `reset` backs up its work.
 */
export const LEARNER = 'chaos'

/** The learner's home folder in the VM. */
export const LEARNER_HOME = `/home/${LEARNER}`

/** What a learner makes in the VM, relative to /: answer sheets, the chapter folders, shell history. */
export const LEARNER_WORK = [`${LEARNER_HOME.slice(1)}/answers`, `${LEARNER_HOME.slice(1)}/src`, `${LEARNER_HOME.slice(1)}/.bash_history`] as const
