/** Turning generated text into an answer to compare (SPEC §8: prefix match for letters; GSM8K numbers). */

/** The generated text starts with the target once leading whitespace is dropped: "(B) because…" ✓. */
export function prefixMatch(generated: string, target: string): boolean {
  return generated.trimStart().startsWith(target);
}

/** A number as written, normalised: commas and a trailing period dropped, "3.50" → "3.5", "-0" → "0". */
export function normalizeNumber(s: string): string | null {
  const t = s.replace(/,/g, '').replace(/\.$/, '').trim();
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)$/.test(t)) return null;
  const n = Number(t);
  return Number.isFinite(n) ? String(n === 0 ? 0 : n) : null;
}

/**
 * GSM8K's answer in a generated solution: the number after "####" when the model wrote one, else the last
 * number in the text (models that do not copy the "####" convention still get credit for the result).
 */
export function extractNumber(generated: string): string | null {
  const hashes = /####\s*([-+]?[\d,]*\.?\d+)/.exec(generated);
  if (hashes) return normalizeNumber(hashes[1]);
  const all = generated.match(/[-+]?\d[\d,]*(\.\d+)?/g);
  return all ? normalizeNumber(all[all.length - 1]) : null;
}
