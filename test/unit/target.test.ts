import {describe, expect, it} from 'vitest'

import {ExitCode} from '../../src/errors.js'
import {parseTargetUrl} from '../../src/ssh/target.js'

describe('parseTargetUrl', () => {
  it('reads user, host and port', () => {
    expect(parseTargetUrl('ssh://admin@127.0.0.1:2222', '/k')).toEqual({host: '127.0.0.1', port: 2222, user: 'admin', identityFile: '/k', name: '127.0.0.1:2222'})
    expect(parseTargetUrl('ssh://chaos@lab-01', '/k').port).toBe(22)
  })

  it.each([
    ['http://a@b:22', /scheme/],
    ['ssh://host-only:22', /no user/],
    ['not a url', /not a URL/],
  ])('refuses %s with exit 2 and the right spelling', (url, why) => {
    try {
      parseTargetUrl(url, '/k')
      expect.unreachable()
    } catch (error) {
      expect((error as {exitCode: number}).exitCode).toBe(ExitCode.usage)
      expect((error as Error).message).toMatch(why)
      expect((error as {suggestion: string}).suggestion).toContain('ssh://USER@HOST:PORT')
    }
  })

  it('needs --identity', () => {
    expect(() => parseTargetUrl('ssh://a@b', undefined)).toThrow(/--identity/)
  })
})
