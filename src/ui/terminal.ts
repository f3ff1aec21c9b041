/** Node's types say isTTY is a boolean, but a stream that is not a terminal leaves it undefined. */
export function isTerminal(stream: {isTTY?: boolean}): boolean {
  return Boolean(stream.isTTY)
}
