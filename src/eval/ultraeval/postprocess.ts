/**
 * UltraEval's answer post-processors and metrics (SPEC §8), each a transcription of the behaviour of its
 * Python original so that an output scores here as it scored for MiniCPM's published table — quirks
 * included: GSM8K's `#### 72.` extracts "72." (the pattern takes dots), and BBH keeps the first paragraph.
 */
import { lastPiece, pyIsDigit, pyRstripChars, pySplit, pyStrip, pyStripChars } from './py-str.js';

/** `gsm8k_post`: the number after the first `#### `, else after the last `>>` or `=`, else the last integer word. */
export function gsm8kPost(input: string): string {
  let text = input;
  const m = /#### (-?[0-9.,]+)/.exec(text);
  if (m) return pyStrip(pyStrip(m[1]).replaceAll(',', ''));
  const after = (at: number) => pySplit(pyStrip(text.slice(at)));
  if (text.includes('>>') && after(text.lastIndexOf('>>') + 2).length) {
    text = pyRstripChars(pyStripChars(after(text.lastIndexOf('>>') + 2)[0], '$').replaceAll(',', ''), '.');
  } else if (text.includes('=') && after(text.lastIndexOf('=') + 1).length) {
    text = pyRstripChars(pyStripChars(after(text.lastIndexOf('=') + 1)[0], '$').replaceAll(',', ''), '.');
  } else {
    // Python's loop variable shadows `text`: without an integer word it ends as the first word
    const words = pySplit(text);
    for (let i = words.length - 1; i >= 0; i--) if (pyIsDigit(words[i])) return words[i];
    if (words.length) text = words[0];
  }
  return pyStrip(text);
}

/** `bbh_post`: the first paragraph, then what follows the last "So the answer is" / "answer is" / "答案是". */
export function bbhPost(input: string): string {
  let text = pyStrip(pyStrip(input).split('\n\n')[0]);
  if (text.includes('So the answer is'))
    text = pyStrip(pyRstripChars(pyStrip(lastPiece(text, 'So the answer is')), '.'));
  if (text.includes('answer is')) text = pyStrip(lastPiece(text, 'answer is'));
  if (text.includes('答案是')) text = pyStrip(lastPiece(text, '答案是'));
  return text;
}

const HUMANEVAL_CUTS = ['\nclass', '\ndef', '\n#', '\n@', '\nprint', '\nif', '<|endoftext|>'];

/** `humaneval_post`: the completion up to the first top-level keyword. */
export function humanevalPost(text: string): string {
  let out = text;
  for (const k of HUMANEVAL_CUTS) out = out.split(k)[0];
  return out;
}

/** `new_mbpp_post`: the code before the first triple quote that opens a later problem. */
export function mbppPost(text: string): string {
  const quotes: number[] = [];
  for (let i = 0; i < text.length; i++) if (text.startsWith('"""', i)) quotes.push(i);
  if (quotes.length > 0 && quotes.length % 2 === 0) {
    for (let i = 0; i < quotes.length; i += 2)
      if (text.slice(quotes[i + 1]).includes('def')) return pyStrip(text.slice(0, quotes[i]));
    return pyStrip(text);
  }
  if (quotes.length > 0) return pyStrip(text.slice(0, quotes[0]));
  return pyStrip(text);
}

/** `prefix_match`: the stripped output starts with the stripped target. */
export function prefixMatch(output: string, target: string): boolean {
  return pyStrip(output).startsWith(pyStrip(target));
}

/**
 * `qa_match` (ARC, HellaSwag generation): the first line names the target letter as `(B)`, `B` or either
 * with a trailing period; or the output (after an echoed question) starts with the answer's text.
 */
export function qaMatch(
  output: string,
  target: string,
  question: string,
  options: readonly string[],
  answer: string,
): boolean {
  let s = pyStrip(output);
  const letters = options.map((_, i) => `(${String.fromCharCode(65 + i)})`);
  let first = '';
  for (const w0 of s.split('\n')[0].split(' ')) {
    const w = w0.endsWith('.') ? w0.slice(0, -1) : w0;
    if (letters.includes(w)) {
      first = w;
      break;
    }
    if (letters.includes(`(${w})`)) {
      first = `(${w})`;
      break;
    }
  }
  if (first === target) return true;
  if (s.startsWith(pyStrip(question))) s = pyStrip(s.slice(pyStrip(question).length));
  return s.startsWith(pyStrip(answer));
}

/** `exact_match` against the accepted answers, spaces ignored; an empty output never matches. */
export function exactMatch(processed: string, targets: readonly string[]): boolean {
  if (pyStrip(processed).length === 0) return false;
  const a = processed.replaceAll(' ', '');
  return targets.some((t) => t.replaceAll(' ', '') === a);
}

/** `in_match` (BBH): the lower-cased, stripped output is one of the accepted answers. */
export function inMatch(processed: string, targets: readonly string[]): boolean {
  return targets.includes(pyStrip(processed.toLowerCase()));
}
