/** Splitting text into the deltas of a streamed response. */

/**
 * Splits text into pieces of at most `size` code points (never inside a surrogate pair), in order.
 *
 * @param text - the text to split.
 * @param size - code points per piece; values below 1 count as 1.
 * @returns the pieces; an empty array for empty text.
 */
export function splitIntoChunks(text: string, size: number): string[] {
  const step = Math.max(1, Math.floor(size));
  const points = Array.from(text);
  const chunks: string[] = [];
  for (let i = 0; i < points.length; i += step) chunks.push(points.slice(i, i + step).join(""));
  return chunks;
}
