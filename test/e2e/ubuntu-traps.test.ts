/**
 * Ubuntu's traps, reproduced on the Debian test VM (QEMU) and shown handled by `chaos-lab provision` (the built
 * binary, over SSH as for provider ssh):
 * - a package source that cannot be read: `apt-get update` prints "W: Failed to fetch" and exits 0;
 * - needrestart installed and set to restart services on its own (what Ubuntu 22.04+ does without a terminal),
 *   with a service whose program was replaced since it started, so needrestart wants to restart it;
 * - a swap file in the fstab, in use (Ubuntu's boxes carry /swap.img);
 * - a cloud image's first boot still running: a `cloud-init` on PATH that says "running" while a service holds
 *   apt's and dpkg's locks, as cloud-init's package installs do.
 * The fast checks of the same functions, with fake programs, are in test/unit/provisioning-traps.test.ts.
 */
import {readFileSync} from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {isolatedEnv, runCli, type CliResult} from '../helpers/cli.js'
import {VM_TOOLS, bootVm, ensureTestImage, requireTools, type RunningVm, type TestImage} from '../helpers/vm/index.js'
import {shellQuote} from '../../src/util/shell.js'

const skip = requireTools([...VM_TOOLS], {root: true})

const BROKEN_SOURCE = 'http://127.0.0.1:9/chaos-trap-broken'
const BROKEN_LIST = '/etc/apt/sources.list.d/chaos-trap-broken.list'
const SENTINEL = 'chaos-trap-sentinel'
/** How long the stand-in for cloud-init's first boot runs on, holding apt's locks, once someone waits for it. */
const CLOUD_INIT_SECONDS = 45

/** Set up as root in the VM. Every trap is real: real apt, real needrestart, real swap, real fcntl locks. */
const SETUP = String.raw`
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# A package source that cannot be read (nothing listens on port 9): apt-get update warns and exits 0.
echo 'deb [trusted=yes] ${BROKEN_SOURCE} stable main' > ${BROKEN_LIST}
status=0
apt-get -q update > /root/trap-update.txt 2>&1 || status=$?
echo "exit=$status" >> /root/trap-update.txt
apt-get -q install -y --no-install-recommends needrestart >/dev/null
# Ubuntu 22.04+ restarts services on its own when apt runs without a terminal; Debian's default asks, or lists.
printf '$nrconf{restart} = %s;\n' "'a'" > /etc/needrestart/conf.d/chaos-trap.conf

# A service whose program is replaced while it runs (a library upgrade does the same to a service's libraries).
cp /usr/bin/sleep /usr/local/bin/${SENTINEL}
printf '[Service]\nExecStart=/usr/local/bin/${SENTINEL} infinity\n' > /etc/systemd/system/${SENTINEL}.service
systemctl daemon-reload
systemctl start ${SENTINEL}
cp /usr/bin/sleep /usr/local/bin/${SENTINEL}.new
mv -f /usr/local/bin/${SENTINEL}.new /usr/local/bin/${SENTINEL}

# The boxes' swap file, in the fstab and in use.
dd if=/dev/zero of=/swap.img bs=1M count=64 status=none
chmod 0600 /swap.img
mkswap /swap.img >/dev/null
swapon /swap.img
echo '/swap.img none swap sw 0 0' >> /etc/fstab

# cloud-init's first boot: a service that holds apt's and dpkg's locks (fcntl, as apt takes them) and a cloud-init
# command that reports "running" while it does. It ends ${CLOUD_INIT_SECONDS} s after someone first waits for it (so
# that the waiting is seen however slowly the VM got there), at the latest after 10 minutes.
cat > /usr/local/bin/cloud-init <<'EOF'
#!/bin/sh
# Stand-in for cloud-init: "running" while chaos-trap-cloud-init.service runs.
echo "$(date +%s) $*" >> /run/chaos-trap-cloud-init.calls
[ "$1" = status ] || { echo "this cloud-init only knows 'status'" >&2; exit 2; }
if [ "$2" = --wait ]; then
  [ -e /run/chaos-trap-cloud-init.waited ] || date +%s > /run/chaos-trap-cloud-init.waited
  while systemctl is-active -q chaos-trap-cloud-init; do printf .; sleep 1; done; echo
fi
if systemctl is-active -q chaos-trap-cloud-init; then echo "status: running"; else echo "status: done"; fi
EOF
chmod 0755 /usr/local/bin/cloud-init
systemd-run -q --unit=chaos-trap-cloud-init python3 -c '
import fcntl, time
locks = [open(path, "a") for path in ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/lib/apt/lists/lock")]
for lock in locks: fcntl.lockf(lock, fcntl.LOCK_EX)
started = time.time()
while time.time() - started < 600:
    try:
        with open("/run/chaos-trap-cloud-init.waited") as waited:
            if time.time() - int(waited.read()) >= ${CLOUD_INIT_SECONDS}: break
    except (OSError, ValueError):
        pass
    time.sleep(1)
with open("/run/chaos-trap-cloud-init.ended", "w") as out: out.write(str(int(time.time())))'
`

describe.skipIf(skip !== undefined)('Ubuntu\'s traps on the Debian test VM, handled by provisioning', () => {
  let image: TestImage
  let vm: RunningVm
  let env: Record<string, string>
  let failed: CliResult
  let sentinelPid: string
  const target = () => ['--target', `ssh://admin@127.0.0.1:${vm.port}`, '--identity', image.privateKeyPath]
  const root = async (script: string, timeoutMs = 120_000) => {
    const result = await vm.ssh(`sudo -n bash -c ${shellQuote(script)}`, {timeoutMs})
    expect(result.code, `${script}\n${result.stdout}${result.stderr}`).toBe(0)
    return result.stdout
  }
  const mainPid = async () => (await root(`systemctl show -p MainPID --value ${SENTINEL}`)).trim()

  beforeAll(async () => {
    image = await ensureTestImage()
    vm = await bootVm({image, name: 'traps', memoryMb: 1024, cpus: 2})
    env = isolatedEnv()
    const started = Date.now()
    await root(SETUP, 10 * 60_000)
    console.log(`traps set up in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    sentinelPid = await mainPid()
  }, 40 * 60_000)

  afterAll(async () => {
    await vm?.stop()
  })

  it('the traps are real: apt-get update exits 0 despite the dead source, needrestart wants a restart, swap is on, cloud-init runs', async () => {
    const plain = await root('cat /root/trap-update.txt')
    expect(plain).toMatch(new RegExp(`^W: Failed to fetch ${BROKEN_SOURCE}/dists/stable/InRelease`, 'm'))
    expect(plain).toMatch(/exit=0\n$/)
    const update = await vm.ssh('sudo -n apt-get -o DPkg::Lock::Timeout=0 -q update 2>&1; echo "exit=$?"', {timeoutMs: 120_000})
    expect(update.stdout).toMatch(/Could not get lock|Unable to lock/) // the stand-in for cloud-init holds apt's lock
    expect(await root('cloud-init status')).toBe('status: running\n')
    expect(await root('needrestart -b -r l')).toContain(`NEEDRESTART-SVC: ${SENTINEL}.service`)
    expect(await root('swapon --show=NAME --noheadings')).toContain('/swap.img')
  }, 5 * 60_000)

  it('first run: waits for cloud-init before apt, then fails on the dead source with an error naming it, printed once', async () => {
    failed = await runCli(['provision', ...target(), '--chapters', '2'], {env, timeoutMs: 20 * 60_000})
    const all = failed.stdout + failed.stderr
    expect(failed.code, all).toBe(3)
    expect(all).not.toMatch(/at .*\.js:\d+/)
    expect(all).toMatch(/\[base\] waiting for cloud-init to finish \(status: running; up to 900s\)/)
    expect(all).toMatch(/\[base\] cloud-init finished after \d+s \(status: done\)/)
    // Retried, then the step's last line names the source and the file that lists it.
    expect(all).toMatch(/apt-get update failed \(try 1 of 4: http:\/\/127\.0\.0\.1:9\/chaos-trap-broken stable: .*\); retrying/)
    const named = new RegExp(`\\[base\\] FAILED: apt-get update could not read the package source ${BROKEN_SOURCE.replaceAll('/', '\\/').replaceAll('.', '\\.')} stable: .*\\(in ${BROKEN_LIST}\\), 4 tries; fix or remove that source`)
    expect(all).toMatch(named)
    expect(all.match(/FAILED: apt-get update could not read the package source/g), all).toHaveLength(1)
    expect(failed.stderr).toMatch(/Error: Provisioning step "base" failed: it exited with 1\. \(Its output is above\.\)/)
  }, 20 * 60_000)

  it('…and stamps nothing fresh; its first apt run came after cloud-init was done, the locks free', async () => {
    expect(await root('test -e /var/lib/chaos-lab/apt-update.stamp && echo stamped || echo none')).toBe('none\n')
    const ended = Number(await root('cat /run/chaos-trap-cloud-init.ended'))
    const firstApt = /^==== (\S+) apt-get/m.exec(await root('cat /var/log/chaos-lab/apt.log'))
    expect(firstApt, 'no apt-get run in the apt log').not.toBeNull()
    expect(Date.parse(firstApt![1]!) / 1000).toBeGreaterThanOrEqual(ended)
    // No lock errors: the wait was for cloud-init, not apt's lock timeout.
    expect(await root('grep -c "Could not get lock" /var/log/chaos-lab/apt.log || true')).toBe('0\n')
  }, 120_000)

  it('with the source fixed: provisioning completes, the service needrestart wanted to restart was left alone, the swap file is gone', async () => {
    await root(`rm -f ${BROKEN_LIST}`)
    const fixed = await runCli(['provision', ...target(), '--chapters', '2', '--json'], {env, timeoutMs: 30 * 60_000})
    expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0)
    expect(fixed.json.steps.map((s: {status: string}) => s.status)).not.toContain('failed')
    console.log(`provision on the trapped VM: ${(fixed.ms / 1000).toFixed(1)} s`)
    expect(await mainPid()).toBe(sentinelPid)
    const aptLog = await root('cat /var/log/chaos-lab/apt.log')
    expect(aptLog).toContain('packages have been installed but needrestart is suspended')
    expect(await root('test -e /var/lib/chaos-lab/apt-update.stamp && echo stamped || echo none')).toBe('stamped\n')
    // Swap: off, its fstab line commented out, the file deleted.
    expect(await root('swapon --show=NAME --noheadings')).toBe('')
    expect(await root('test -e /swap.img && echo present || echo gone')).toBe('gone\n')
    expect(await root('cat /etc/fstab')).toMatch(/^# chaos-lab: no swap.*: \/swap\.img none swap sw 0 0$/m)
    expect(readFileSync(fixed.json.logFile as string, 'utf8')).toMatch(/^\[base\] removed the swap file \/swap\.img \(64 MB\)$/m)
  }, 30 * 60_000)

  it('the needrestart trap was armed: an apt run without the suspension restarts that service', async () => {
    await root('DEBIAN_FRONTEND=noninteractive apt-get -q install -y --reinstall psmisc', 5 * 60_000)
    expect(await mainPid()).not.toBe(sentinelPid)
  }, 5 * 60_000)

  it('a rerun changes nothing and finds no swap file to remove', async () => {
    const again = await runCli(['provision', ...target(), '--chapters', '2', '--force'], {env, timeoutMs: 20 * 60_000})
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect(again.stdout + again.stderr).not.toMatch(/removed the swap file|waiting for cloud-init/)
  }, 20 * 60_000)
})
