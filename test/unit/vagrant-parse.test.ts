import {describe, expect, it} from 'vitest'

import {parseMachineReadableStatus, parseSnapshotList, parseSshConfig} from '../../src/providers/vagrant.js'

describe('vagrant output parsers', () => {
  it('reads the state and provider from `vagrant status --machine-readable`', () => {
    const out = [
      '1700000000,default,metadata,provider,libvirt',
      '1700000000,default,provider-name,libvirt',
      '1700000000,default,state,running',
      '1700000000,default,state-human-short,running',
      '1700000000,,ui,info,Current machine states:',
    ].join('\n')
    expect(parseMachineReadableStatus(out)).toEqual({machine: 'default', state: 'running', provider: 'libvirt'})
  })

  it('reads not_created', () => {
    expect(parseMachineReadableStatus('1,default,provider-name,virtualbox\n1,default,state,not_created\n').state).toBe('not_created')
  })

  it('reads HostName, Port, User and the first IdentityFile from `vagrant ssh-config`', () => {
    const out = `Host default
  HostName 192.168.121.45
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile "/home/a b/lab/.vagrant/machines/default/libvirt/private_key"
  IdentityFile /home/x/.vagrant.d/insecure_private_key
  IdentitiesOnly yes
  LogLevel FATAL
`
    expect(parseSshConfig(out)).toEqual({
      host: '192.168.121.45', port: 22, user: 'vagrant', name: 'default',
      identityFile: '/home/a b/lab/.vagrant/machines/default/libvirt/private_key',
    })
  })

  it('fails with the next step when ssh-config has no host', () => {
    expect(() => parseSshConfig('')).toThrow(expect.objectContaining({exitCode: 3, suggestion: expect.stringContaining('chaos-lab status')}))
  })

  it('lists snapshot names and ignores the "no snapshots" message', () => {
    expect(parseSnapshotList('1,default,ui,detail,chaos-lab-pristine\n1,default,ui,detail,before-lesson-3\n')).toEqual(['chaos-lab-pristine', 'before-lesson-3'])
    expect(parseSnapshotList('1,default,ui,detail,No snapshots have been taken yet!\n')).toEqual([])
  })
})
