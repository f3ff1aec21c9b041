/** Levenshtein distance, for "did you mean" suggestions on unknown keys, lessons and commands. */
export function editDistance(a: string, b: string): number {
  // row[j]: the distance between the first i characters of a and the first j of b, one row kept and rewritten in place.
  const row = Array.from({length: b.length + 1}, (_, j) => j)
  let distance = b.length
  for (let i = 1; i <= a.length; i++) {
    let diagonal = 0 // the previous row's row[j - 1]
    let left = 0 // this row's row[j - 1]
    for (const [j, above] of row.entries()) {
      const value = j === 0 ? i : Math.min(above + 1, left + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1))
      row[j] = value
      diagonal = above
      left = value
    }
    distance = left
  }
  return distance
}

/** The closest candidate within a third of the word's length (case-insensitive), if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: {candidate: string; distance: number} | undefined
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase())
    if (!best || distance < best.distance) best = {candidate, distance}
  }
  return best && best.distance <= Math.max(1, Math.floor(word.length / 3)) ? best.candidate : undefined
}
