import {spawnSync} from 'node:child_process'
import {existsSync, readFileSync, rmSync, writeFileSync} from 'node:fs'

/**
 * Network namespaces joined to the host by a veth pair in a /30 of a private /16, shared by the systemd-nspawn
 * containers (nspawn.ts: 10.213.0.0/16, `chaos-lab-ct-N`, host end `clhN`) and the private libvirt host
 * (../libvirt/daemon.ts: 10.214.0.0/16, `chaos-lab-lvN`, host end `clvN`). A /30 is claimed by creating its
 * namespace: `ip netns add` fails when the name is taken, so concurrent test processes never share one.
 */

/** Runs a command synchronously (bounded); never throws. */
export function sh(args: readonly string[], timeoutMs = 30_000): {ok: boolean; output: string} {
  const [file, ...rest] = args
  const result = spawnSync(file ?? 'false', rest, {timeout: timeoutMs, encoding: 'utf8'})
  return {ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}`}
}

/** sh(), throwing with the command's output when it fails; returns the output. */
export function shOk(args: readonly string[], timeoutMs = 30_000): string {
  const result = sh(args, timeoutMs)
  if (!result.ok) throw new Error(`${args.join(' ')} failed: ${result.output.trim()}`)
  return result.output
}

/** Where a kind of namespace takes its /30s and names from. */
export interface SubnetRange {
  /** The first two octets of the /16 the /30s are cut from, e.g. '10.213'. */
  network: string
  /** Namespace names are this prefix and the /30's index. */
  netnsPrefix: string
  /** The host's end of the veth pair is this prefix and the /30's index. */
  vethPrefix: string
  /** Who the namespace is for, in the error message when none can be claimed ('a container'). */
  purpose: string
}

export interface Subnet {
  index: number
  netns: string
  hostVeth: string
  /** The host's address on its end of the veth pair (the namespace's default gateway). */
  gateway: string
  /** The address inside the namespace. */
  address: string
  cidr: string
}

const SUBNET_COUNT = 1 << 14 // a /16 in /30s

/** Claims a free /30 of the range by creating its network namespace (`ip netns add` fails when the name is taken). */
export function claimSubnet(range: SubnetRange): Subnet {
  const start = Math.floor(Math.random() * SUBNET_COUNT)
  for (let tries = 0; tries < 64; tries++) {
    const index = (start + tries * 7919) % SUBNET_COUNT
    const netns = `${range.netnsPrefix}${index}`
    if (!sh(['ip', 'netns', 'add', netns]).ok) continue
    const third = index >> 6
    const fourth = (index & 63) * 4
    return {
      index,
      netns,
      hostVeth: `${range.vethPrefix}${index}`,
      gateway: `${range.network}.${third}.${fourth + 1}`,
      address: `${range.network}.${third}.${fourth + 2}`,
      cidr: `${range.network}.${third}.${fourth}/30`,
    }
  }
  throw new Error(`Could not claim a network namespace for ${range.purpose} (64 tries).`)
}

/**
 * Joins a claimed namespace to the host: a veth pair (`peer` inside the namespace), the /30's addresses on
 * both ends, loopback up, and a default route inside through the host's end.
 */
export function linkSubnet(subnet: Subnet, peer: string): void {
  shOk(['ip', '-n', subnet.netns, 'link', 'set', 'lo', 'up'])
  shOk(['ip', 'link', 'add', subnet.hostVeth, 'type', 'veth', 'peer', 'name', peer, 'netns', subnet.netns])
  shOk(['ip', 'addr', 'add', `${subnet.gateway}/30`, 'dev', subnet.hostVeth])
  shOk(['ip', 'link', 'set', subnet.hostVeth, 'up'])
  shOk(['ip', '-n', subnet.netns, 'addr', 'add', `${subnet.address}/30`, 'dev', peer])
  shOk(['ip', '-n', subnet.netns, 'link', 'set', peer, 'up'])
  shOk(['ip', '-n', subnet.netns, 'route', 'add', 'default', 'via', subnet.gateway])
}

/** The MASQUERADE rule of one namespace, as iptables -t nat -A/-C/-D arguments after the verb. */
export function natRule(subnet: Pick<Subnet, 'cidr' | 'netns'>): string[] {
  return ['POSTROUTING', '-s', subnet.cidr, '!', '-d', subnet.cidr, '-m', 'comment', '--comment', subnet.netns, '-j', 'MASQUERADE']
}

/** Gives the namespace a route to the outside: ip_forward on (see enableForwarding) and its MASQUERADE rule. */
export function addNat(subnet: Subnet): void {
  enableForwarding()
  shOk(['iptables', '-t', 'nat', '-A', ...natRule(subnet)])
}

/**
 * Removes what claimSubnet(), linkSubnet() and addNat() made: the MASQUERADE rule (when `nat`), the veth pair
 * and the namespace. Best effort; ip_forward is left to restoreForwarding().
 */
export function releaseSubnet(subnet: Pick<Subnet, 'cidr' | 'netns' | 'hostVeth'>, nat: boolean): void {
  if (nat) sh(['iptables', '-t', 'nat', '-D', ...natRule(subnet)])
  sh(['ip', 'link', 'del', subnet.hostVeth])
  sh(['ip', 'netns', 'del', subnet.netns])
}

/**
 * Where the host's ip_forward value from before the first namespace with a route out is kept until the last
 * one ends. One file for every user of this module, so they never undo each other's ip_forward.
 */
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward'
const IP_FORWARD_SAVED = '/run/chaos-lab-test-ip_forward'

export function enableForwarding(): void {
  if (!existsSync(IP_FORWARD_SAVED)) writeFileSync(IP_FORWARD_SAVED, readFileSync(IP_FORWARD, 'utf8'))
  writeFileSync(IP_FORWARD, '1\n')
}

/** Puts ip_forward back as it was once no network namespace whose name starts with `netnsPrefix` is left. */
export function restoreForwarding(netnsPrefix: string): void {
  if (!existsSync(IP_FORWARD_SAVED)) return
  const namespaces = sh(['ip', 'netns', 'list'])
  if (!namespaces.ok || namespaces.output.split('\n').some((line) => line.startsWith(netnsPrefix))) return
  try {
    writeFileSync(IP_FORWARD, readFileSync(IP_FORWARD_SAVED, 'utf8'))
    rmSync(IP_FORWARD_SAVED, {force: true})
  } catch {
    // Best effort.
  }
}
