import {describe, expect, it} from 'vitest'

import {colourStats, decodePng} from '../helpers/png.js'
import {pngFromPpm} from '../helpers/vm/monitor.js'

describe('screenshots: PPM → PNG (the screendump fallback) and back', () => {
  it('keeps every pixel, and counts colours, dark and light pixels', () => {
    const pixels = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 10, 10, 240, 250, 255, 1, 2, 3])
    const ppm = Buffer.concat([Buffer.from('P6\n3 2\n255\n'), pixels])
    const image = decodePng(pngFromPpm(ppm))
    expect([image.width, image.height, image.channels]).toEqual([3, 2, 3])
    expect(image.pixels.equals(pixels)).toBe(true)
    expect(colourStats(image)).toEqual({colours: 6, darkShare: 2 / 6, lightShare: 1 / 6})
  })

  it('refuses what is not a binary 8-bit PPM or not a PNG', () => {
    expect(() => pngFromPpm(Buffer.from('P3\n1 1\n255\n0 0 0\n'))).toThrow(/P6/)
    expect(() => decodePng(Buffer.from('GIF89a'))).toThrow(/not a PNG/)
  })
})
