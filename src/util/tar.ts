/** A minimal POSIX ustar writer: enough to ship a folder of scripts to a VM in one upload. */

export interface TarEntry {
  /** Relative path with forward slashes. */
  path: string
  mode: number
  content: Buffer
}

const BLOCK = 512

function writeString(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8')
  if (bytes.length > length) throw new RangeError(`tar field too long: ${value}`)
  bytes.copy(header, offset)
}

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  writeString(header, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`)
}

function splitPath(path: string): {name: string; prefix: string} {
  if (Buffer.byteLength(path) <= 100) return {name: path, prefix: ''}
  const cut = path.lastIndexOf('/', 155)
  if (cut <= 0 || Buffer.byteLength(path.slice(cut + 1)) > 100) throw new RangeError(`path too long for tar: ${path}`)
  return {name: path.slice(cut + 1), prefix: path.slice(0, cut)}
}

function header(path: string, mode: number, size: number, type: '0' | '5', mtime: number): Buffer {
  const block = Buffer.alloc(BLOCK)
  const {name, prefix} = splitPath(path)
  writeString(block, 0, 100, name)
  writeOctal(block, 100, 8, mode & 0o7777)
  writeOctal(block, 108, 8, 0)
  writeOctal(block, 116, 8, 0)
  writeOctal(block, 124, 12, size)
  writeOctal(block, 136, 12, mtime)
  block.fill(' ', 148, 156)
  writeString(block, 156, 1, type)
  writeString(block, 257, 6, 'ustar\0')
  writeString(block, 263, 2, '00')
  writeString(block, 265, 32, 'root')
  writeString(block, 297, 32, 'root')
  writeString(block, 345, 155, prefix)
  let sum = 0
  for (const byte of block) sum += byte
  writeString(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `)
  return block
}

/** Builds a tar archive; parent folders get their own entries (mode 0755) so extraction needs no -p. */
export function createTar(entries: readonly TarEntry[], mtime = 0): Buffer {
  const parts: Buffer[] = []
  const folders = new Set<string>()
  for (const entry of [...entries].sort((a, b) => a.path.localeCompare(b.path))) {
    const segments = entry.path.split('/')
    for (let i = 1; i < segments.length; i++) {
      const folder = `${segments.slice(0, i).join('/')}/`
      if (folders.has(folder)) continue
      folders.add(folder)
      parts.push(header(folder, 0o755, 0, '5', mtime))
    }
    parts.push(header(entry.path, entry.mode, entry.content.length, '0', mtime), entry.content)
    const padding = (BLOCK - (entry.content.length % BLOCK)) % BLOCK
    if (padding) parts.push(Buffer.alloc(padding))
  }
  parts.push(Buffer.alloc(BLOCK * 2))
  return Buffer.concat(parts)
}
