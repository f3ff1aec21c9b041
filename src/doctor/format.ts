import type {DoctorReport, DoctorStatus} from './doctor.js'

const LABEL: Record<DoctorStatus, string> = {ok: 'ok', warn: 'warn', fail: 'FAIL'}

/** The doctor's report as a plain-text table, each problem followed by its fix, and a verdict. */
export function formatDoctor(report: DoctorReport): string {
  const width = Math.max(...report.items.map((i) => i.title.length), 'CHECK'.length)
  const pad = (text: string, size: number) => text.padEnd(size)
  const lines = [
    `chaos-lab doctor — provider ${report.provider}, lab folder ${report.dir}`,
    '',
    `  ${pad('STATUS', 6)}  ${pad('CHECK', width)}  DETAIL`,
  ]
  for (const item of report.items) {
    lines.push(`  ${pad(LABEL[item.status], 6)}  ${pad(item.title, width)}  ${item.detail}`)
    if (item.fix) lines.push(`  ${pad('', 6)}  ${pad('', width)}  fix: ${item.fix}`)
  }
  const fails = report.items.filter((i) => i.status === 'fail').length
  const warns = report.items.filter((i) => i.status === 'warn').length
  lines.push('')
  if (fails > 0) {
    lines.push(`${fails} problem${fails === 1 ? '' : 's'} must be fixed before the lab machine can run; fix ${fails === 1 ? 'it' : 'them'}, then run \`chaos-lab doctor\` again.`)
  } else if (warns > 0) {
    lines.push(`Ready, with ${warns} warning${warns === 1 ? '' : 's'} above. Next: \`chaos-lab up\`.`)
  } else {
    lines.push('Everything is ready. Next: `chaos-lab up`.')
  }
  return lines.join('\n')
}
