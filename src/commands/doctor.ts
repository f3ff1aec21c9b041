import type {DoctorReport} from '../doctor/doctor.js'
import {formatDoctor} from '../doctor/format.js'
import {ExitCode} from '../errors.js'
import {BaseCommand} from '../cli/base-command.js'
import {doctor} from '../services/doctor.js'

export default class Doctor extends BaseCommand<typeof Doctor> {
  static override summary = 'Check that this computer can create and run the lab machine.'
  static override description = [
    'Preflight for the lab folder\'s provider. For virtualbox and libvirt: Vagrant and its version; the provider (VBoxManage, or virsh, the vagrant-libvirt plugin and a reachable libvirt daemon); hardware virtualization (VT-x/AMD-V, or /dev/kvm for libvirt, saying when the driver must be qemu); the host\'s architecture (an ARM host needs an arm64 box and Vagrant 2.4+); free memory against the VM\'s; free disk; whether the FizzBuzz port is free on 127.0.0.1. For ssh: the identity file. Every problem comes with how to fix it.',
    'chaos-lab.yaml is validated first, before Vagrant is looked for; without one, the book\'s defaults are checked.',
    'Exit codes: 0 nothing failed (warnings allowed); 2 bad config; 3 something fails that keeps the lab machine from running (e.g. Vagrant or VirtualBox missing).',
    'JSON (--json): {provider, dir, ok, items: [{id, title, status: ok|warn|fail, detail, fix}]}.',
  ].join('\n\n')

  static override examples = [
    {description: 'Check this computer for the lab in the current folder', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Check for a lab folder elsewhere', command: '<%= config.bin %> <%= command.id %> --dir ~/chaos-lab'},
    {description: 'Machine-readable, for scripts and CI (exit code 3 when something fails)', command: '<%= config.bin %> <%= command.id %> --json'},
  ]

  async run(): Promise<DoctorReport> {
    const report = await doctor(this.flags.dir, this.deps())
    this.log(formatDoctor(report))
    if (!report.ok) process.exitCode = ExitCode.machine
    return report
  }
}
