import {inflateSync} from 'node:zlib'

/**
 * Just enough of PNG to look at a screenshot's pixels: 8-bit RGB or RGBA, not interlaced (what Chromium and
 * QEMU's screendump write). Throws on anything else.
 */
export interface Image {
  width: number
  height: number
  channels: number
  pixels: Buffer
}

export function decodePng(png: Buffer): Image {
  if (png.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error('not a PNG file (bad signature)')
  let offset = 8
  let width = 0
  let height = 0
  let colorType = -1
  const data: Buffer[] = []
  while (offset < png.length) {
    const length = png.readUInt32BE(offset)
    const type = png.toString('latin1', offset + 4, offset + 8)
    const body = png.subarray(offset + 8, offset + 8 + length)
    if (type === 'IHDR') {
      width = body.readUInt32BE(0)
      height = body.readUInt32BE(4)
      if (body[8] !== 8) throw new Error(`PNG bit depth ${body[8]} (only 8 is read here)`)
      colorType = body[9] ?? -1
      if (body[12] !== 0) throw new Error('interlaced PNG (not read here)')
    } else if (type === 'IDAT') data.push(body)
    else if (type === 'IEND') break
    offset += 12 + length
  }
  const channels = colorType === 6 ? 4 : colorType === 2 ? 3 : 0
  if (channels === 0) throw new Error(`PNG colour type ${colorType} (only RGB and RGBA are read here)`)
  const raw = inflateSync(Buffer.concat(data))
  const stride = width * channels
  const pixels = Buffer.alloc(stride * height)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] ?? 0
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    for (let x = 0; x < stride; x++) {
      const left = x >= channels ? pixels[y * stride + x - channels] ?? 0 : 0
      const up = y > 0 ? pixels[(y - 1) * stride + x] ?? 0 : 0
      const upLeft = y > 0 && x >= channels ? pixels[(y - 1) * stride + x - channels] ?? 0 : 0
      let predictor = 0
      if (filter === 1) predictor = left
      else if (filter === 2) predictor = up
      else if (filter === 3) predictor = (left + up) >> 1
      else if (filter === 4) {
        const p = left + up - upLeft
        const pa = Math.abs(p - left)
        const pb = Math.abs(p - up)
        const pc = Math.abs(p - upLeft)
        predictor = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft
      }
      pixels[y * stride + x] = ((line[x] ?? 0) + predictor) & 0xff
    }
  }
  return {width, height, channels, pixels}
}

/** How many distinct RGB colours the image has, and the share of its pixels that are near black. */
export function colourStats(image: Image): {colours: number; darkShare: number; lightShare: number} {
  const seen = new Set<number>()
  let dark = 0
  let light = 0
  const count = image.width * image.height
  for (let i = 0; i < image.pixels.length; i += image.channels) {
    const r = image.pixels[i] ?? 0
    const g = image.pixels[i + 1] ?? 0
    const b = image.pixels[i + 2] ?? 0
    seen.add((r << 16) | (g << 8) | b)
    if (r < 24 && g < 24 && b < 24) dark++
    if (r > 232 && g > 232 && b > 232) light++
  }
  return {colours: seen.size, darkShare: dark / count, lightShare: light / count}
}
