import {existsSync, readFileSync, unlinkSync, writeFileSync} from 'node:fs'
import {createConnection} from 'node:net'
import {deflateSync} from 'node:zlib'

/**
 * QEMU's human monitor (HMP) on a unix socket: one command, its output. The monitor greets with a banner and
 * prompts "(qemu) " after each command; the output is what comes between the command's echo and the next prompt.
 */
export function monitorCommand(socketPath: string, command: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath)
    let buffer = ''
    let sent = false
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`QEMU's monitor did not answer \`${command}\` within ${timeoutMs / 1000} s (got: ${JSON.stringify(buffer.slice(-300))})`))
    }, timeoutMs)
    const finish = (error?: Error) => {
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else {
        // HMP echoes the command with terminal escapes; keep the lines after the echo, before the prompt.
        const escape = String.fromCharCode(27)
        const clean = buffer.split(escape).map((part, i) => (i === 0 ? part : part.replace(/^\[[0-9;]*[A-Za-z]/, ''))).join('').replace(/\r/g, '')
        const afterEcho = clean.slice(clean.indexOf(command) + command.length)
        resolve(afterEcho.replace(/\(qemu\) $/, '').trim())
      }
    }
    socket.on('error', (error) => { finish(error) })
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1')
      if (!sent && buffer.includes('(qemu) ')) {
        sent = true
        buffer = ''
        socket.write(`${command}\n`)
      } else if (sent && buffer.endsWith('(qemu) ')) {
        finish()
      }
    })
  })
}

/**
 * Writes the guest's screen to `file` as PNG: HMP `screendump -f png` (QEMU >= 7.1 built with libpng), else the
 * classic PPM screendump converted here. Throws when the monitor reports an error.
 */
export async function screendump(socketPath: string, file: string): Promise<void> {
  const isPng = () => existsSync(file) && readFileSync(file).subarray(0, 8).toString('hex') === '89504e470d0a1a0a'
  // Judged by the file written, not by the monitor's words (its echo of the command carries terminal escapes).
  const output = await monitorCommand(socketPath, `screendump -f png ${file}`)
  if (isPng()) return
  const ppm = `${file}.ppm`
  const fallback = await monitorCommand(socketPath, `screendump ${ppm}`)
  if (!existsSync(ppm)) throw new Error(`screendump wrote nothing: ${output || '(no output)'} / ${fallback || '(no output)'}`)
  writeFileSync(file, pngFromPpm(readFileSync(ppm)))
  unlinkSync(ppm)
}

const CRC_TABLE = Array.from({length: 256}, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(data: Buffer): number {
  let c = 0xffffffff
  for (const byte of data) c = (CRC_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(body.length, 0)
  head.write(type, 4, 'latin1')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0)
  return Buffer.concat([head, body, crc])
}

/** A binary PPM (P6, maxval 255, what QEMU writes) as an 8-bit RGB PNG. */
export function pngFromPpm(ppm: Buffer): Buffer {
  const header = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(ppm.toString('latin1', 0, 64))
  if (!header || header[3] !== '255') throw new Error('not a binary 8-bit PPM (P6, maxval 255)')
  const width = Number(header[1])
  const height = Number(header[2])
  const pixels = ppm.subarray(header[0].length)
  const stride = width * 3
  const raw = Buffer.alloc((stride + 1) * height)
  for (let y = 0; y < height; y++) pixels.copy(raw, y * (stride + 1) + 1, y * stride, (y + 1) * stride)
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8
  ihdr[9] = 2
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}
