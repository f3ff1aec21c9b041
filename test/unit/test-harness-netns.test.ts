import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

// The e2e harness's network namespaces (nspawn containers, the private libvirt host): only the commands are
// checked here, none is run.
const calls: string[][] = []
let refuse: (args: string[]) => boolean = () => false
vi.mock('node:child_process', () => ({
  spawnSync: (file: string, args: string[]) => {
    calls.push([file, ...args])
    return {status: refuse([file, ...args]) ? 1 : 0, stdout: '', stderr: ''}
  },
}))

const {claimSubnet, linkSubnet, natRule, releaseSubnet} = await import('../helpers/vm/netns.js')

const CONTAINERS = {network: '10.213', netnsPrefix: 'chaos-lab-ct-', vethPrefix: 'clh', purpose: 'a container'}
const LIBVIRT = {network: '10.214', netnsPrefix: 'chaos-lab-lv', vethPrefix: 'clv', purpose: 'libvirt'}

describe('claimSubnet', () => {
  beforeEach(() => {
    calls.length = 0
    refuse = () => false
    vi.spyOn(Math, 'random').mockReturnValue(0.5) // index 8192 = 10.x.128.0/30
  })
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('names the namespace and veth after the /30 it takes from the range', () => {
    expect(claimSubnet(CONTAINERS)).toEqual({
      index: 8192,
      netns: 'chaos-lab-ct-8192',
      hostVeth: 'clh8192',
      gateway: '10.213.128.1',
      address: '10.213.128.2',
      cidr: '10.213.128.0/30',
    })
    expect(calls).toEqual([['ip', 'netns', 'add', 'chaos-lab-ct-8192']])
    expect(claimSubnet(LIBVIRT)).toMatchObject({netns: 'chaos-lab-lv8192', hostVeth: 'clv8192', cidr: '10.214.128.0/30'})
  })

  it('steps on by 7919 /30s while a namespace name is taken, and gives up after 64 tries', () => {
    refuse = (args) => args[3] === 'chaos-lab-ct-8192'
    const subnet = claimSubnet(CONTAINERS)
    const index = (8192 + 7919) % (1 << 14)
    expect(subnet).toMatchObject({index, gateway: `10.213.${index >> 6}.${(index & 63) * 4 + 1}`, address: `10.213.${index >> 6}.${(index & 63) * 4 + 2}`})
    refuse = () => true
    expect(() => claimSubnet(LIBVIRT)).toThrow('Could not claim a network namespace for libvirt (64 tries).')
  })
})

describe('linkSubnet, natRule and releaseSubnet', () => {
  const subnet = {index: 1, netns: 'chaos-lab-ct-1', hostVeth: 'clh1', gateway: '10.213.0.5', address: '10.213.0.6', cidr: '10.213.0.4/30'}
  beforeEach(() => {
    calls.length = 0
    refuse = () => false
  })

  it('joins the namespace to the host by a veth pair with the /30 on both ends and a default route', () => {
    linkSubnet(subnet, 'cl0')
    expect(calls.map((args) => args.join(' '))).toEqual([
      'ip -n chaos-lab-ct-1 link set lo up',
      'ip link add clh1 type veth peer name cl0 netns chaos-lab-ct-1',
      'ip addr add 10.213.0.5/30 dev clh1',
      'ip link set clh1 up',
      'ip -n chaos-lab-ct-1 addr add 10.213.0.6/30 dev cl0',
      'ip -n chaos-lab-ct-1 link set cl0 up',
      'ip -n chaos-lab-ct-1 route add default via 10.213.0.5',
    ])
  })

  it('stops at the first command that fails, saying which', () => {
    refuse = (args) => args.includes('addr')
    expect(() => {
      linkSubnet(subnet, 'cl0')
    }).toThrow('ip addr add 10.213.0.5/30 dev clh1 failed')
  })

  it('masquerades what leaves the /30, tagged with the namespace, and removes rule, veth and namespace', () => {
    expect(natRule(subnet).join(' ')).toBe('POSTROUTING -s 10.213.0.4/30 ! -d 10.213.0.4/30 -m comment --comment chaos-lab-ct-1 -j MASQUERADE')
    releaseSubnet(subnet, true)
    releaseSubnet(subnet, false)
    expect(calls.map((args) => args.slice(0, 4).join(' '))).toEqual([
      'iptables -t nat -D',
      'ip link del clh1',
      'ip netns del chaos-lab-ct-1',
      'ip link del clh1',
      'ip netns del chaos-lab-ct-1',
    ])
  })
})
