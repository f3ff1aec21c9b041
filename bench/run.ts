/**
 * `npm run bench`: every target is a ratio against a baseline measured in the same run, on the same machine,
 * so a shared, noisy machine slows both sides alike. Sections that need a VM say so when it is missing.
 */
import {resolve} from 'node:path'

import {benchStartup} from './startup.js'

const root = resolve(import.meta.dirname, '..')
const sections = (process.argv[2] ?? 'startup,provision,check,fleet').split(',')

const lines: string[] = []
if (sections.includes('startup')) lines.push(...benchStartup(root))
if (sections.some((section) => section === 'provision' || section === 'check')) {
  const {benchWithVm} = await import('./vm.js')
  lines.push(...(await benchWithVm(root, sections)))
}
if (sections.includes('fleet')) lines.push(...(await (await import('./fleet.js')).benchFleet(root)))
// Opt-in (`npm run bench -- chapter3`, `chapter4`): a chapter's packages (BCC's LLVM; WordPress, Apache, MariaDB)
// downloaded and installed under TCG.
for (const chapter of [3, 4]) {
  if (sections.includes(`chapter${chapter}`)) lines.push(...(await (await import('./chapters.js')).benchChapter(root, chapter)))
}
// Opt-in (`npm run bench -- libvirt`): two real `vagrant up` runs take many minutes under TCG.
if (sections.includes('libvirt')) lines.push(...(await (await import('./libvirt.js')).benchLibvirt()))
console.log(lines.join('\n'))
