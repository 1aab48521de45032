/**
 * Byte-level BPE pieces (GPT-2): every byte maps to a printable character so that merges work on text,
 * and the pre-tokenizer regexes of the common model families (named as GGUF `tokenizer.ggml.pre`).
 */

/** GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to U+0100 upwards. */
export const BYTE_TO_CHAR: string[] = (() => {
  const table = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return table;
})();

export const CHAR_TO_BYTE: Map<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

const encoder = new TextEncoder();

/** Maps text to its byte-level form (each UTF-8 byte → one character). */
export function toByteLevel(text: string): string {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80 || BYTE_TO_CHAR[c].charCodeAt(0) !== c) {
      ascii = false;
      break;
    }
  }
  if (ascii) return text;
  let out = '';
  for (const b of encoder.encode(text)) out += BYTE_TO_CHAR[b];
  return out;
}

/** Inverse of toByteLevel; characters outside the table are kept as their own UTF-8. */
export function fromByteLevel(text: string): Uint8Array {
  const bytes: number[] = [];
  for (const ch of text) {
    const b = CHAR_TO_BYTE.get(ch);
    if (b !== undefined) bytes.push(b);
    else for (const x of encoder.encode(ch)) bytes.push(x);
  }
  return Uint8Array.from(bytes);
}

export const GPT2_PATTERN =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

const LLAMA3_PATTERN =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" +
  '| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';

// DeepSeek-LLM's letter class enumerates the cased letters (Lu, Ll, Lt) of its Unicode version.
const DEEPSEEK_LLM_LETTERS = '\\p{LC}';

/**
 * Pre-tokenizer regexes by family. Each family is a list applied in sequence, every match isolated
 * (Hugging Face `Split` with behavior "Isolated"), as the published tokenizer.json files do.
 */
export const PRE_TOKENIZER_PATTERNS: Record<string, string[]> = {
  default: [GPT2_PATTERN],
  'gpt-2': [GPT2_PATTERN],
  gpt2: [GPT2_PATTERN],
  llama3: [LLAMA3_PATTERN],
  'llama-bpe': [LLAMA3_PATTERN],
  'deepseek-llm': [
    '[\\r\\n]',
    `\\s?${DEEPSEEK_LLM_LETTERS}+`,
    '\\s?[!-/:-~！-／：-～‘-‟　-。]+',
    '\\s+$',
    '[一-龥ࠀ-一가-퟿]+',
    '\\p{N}+',
  ],
  'deepseek-coder': ['[\\r\\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', '[一-龥ࠀ-一가-퟿]+', '\\p{N}'],
};

/** Splits `text` keeping both the matches and the text between them (behavior "Isolated"). */
export function splitIsolated(text: string, re: RegExp): string[] {
  const out: string[] = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
