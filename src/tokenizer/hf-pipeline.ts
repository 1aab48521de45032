/**
 * The normalizer, pre-tokenizer and decoder stages of a Hugging Face tokenizer.json, built from their JSON.
 * Only the components that BPE tokenizers use are implemented; others fail with a clear message.
 */
import { BYTE_TO_CHAR, fromByteLevel, GPT2_PATTERN, splitIsolated, toByteLevel } from './byte-level.js';
import { TokenizerFormatError, UnsupportedTokenizerError } from './errors.js';

type Json = Record<string, unknown>;
export type Normalizer = (text: string) => string;
/** Splits one section of text (`first`: the section starts the input, no added token before it). */
export type PreTokenizer = (pieces: string[], first: boolean) => string[];
export type Decoder = (tokens: string[]) => string[];

const unsupported = (stage: string, type: unknown): never => {
  throw new UnsupportedTokenizerError(
    `tokenizer.json uses the ${stage} "${String(type)}", which is not supported; ` +
      'load the model’s tokenizer.model instead if it ships one',
  );
};

const corrupt = (what: string): never => {
  throw new TokenizerFormatError(`tokenizer.json: ${what}: the file is corrupt`);
};

/** `json[key]`, which a `stage` Sequence must hold as a list (found missing by fuzzing). */
function listOf(json: Json, key: string, stage: string): unknown[] {
  const v = json[key];
  return Array.isArray(v) ? v : corrupt(`the ${stage} Sequence has no "${key}" list`);
}

/** `json[key]` as a string (`dflt` when absent). */
function stringOf(json: Json, key: string, stage: string, dflt?: string): string {
  const v = json[key] ?? dflt;
  return typeof v === 'string' ? v : corrupt(`the ${stage} "${String(json.type)}" needs a string "${key}"`);
}

/** A `{String: s}` or `{Regex: r}` pattern as a global regex. */
export function patternRegex(pattern: unknown): RegExp {
  const p = (pattern ?? {}) as Json;
  try {
    if (typeof p.String === 'string') return new RegExp(escapeRegex(p.String), 'gu');
    if (typeof p.Regex === 'string') return new RegExp(fixRegex(p.Regex), 'gu');
  } catch (e) {
    corrupt(
      `the pattern ${JSON.stringify(pattern)} is not a valid regular expression (${(e as Error).message})`,
    );
  }
  return unsupported('pattern', JSON.stringify(pattern));
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** Oniguruma spellings that JavaScript lacks: case-insensitive groups around ASCII contractions. */
function fixRegex(r: string): string {
  return r.replace(
    /\(\?i:([^)]*)\)/g,
    (_, body: string) =>
      '(?:' + body.replace(/[a-zA-Z]/g, (c) => `[${c.toLowerCase()}${c.toUpperCase()}]`) + ')',
  );
}

export function buildNormalizer(json: unknown): Normalizer | undefined {
  if (json == null) return undefined;
  const n = json as Json;
  switch (n.type) {
    case 'Sequence': {
      const parts = listOf(n, 'normalizers', 'normalizer')
        .map(buildNormalizer)
        .filter((x): x is Normalizer => !!x);
      return (t) => parts.reduce((acc, f) => f(acc), t);
    }
    case 'Prepend':
      const prepend = stringOf(n, 'prepend', 'normalizer');
      return (t) => (t.length > 0 ? prepend + t : t);
    case 'Replace': {
      const re = patternRegex(n.pattern);
      const content = stringOf(n, 'content', 'normalizer');
      return (t) => t.replace(re, () => content);
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (t) => t.normalize(n.type as string);
    case 'Lowercase':
      return (t) => t.toLowerCase();
    case 'Strip': {
      const left = n.strip_left !== false;
      const right = n.strip_right !== false;
      return (t) => (left && right ? t.trim() : left ? t.trimStart() : right ? t.trimEnd() : t);
    }
    default:
      return unsupported('normalizer', n.type);
  }
}

type Behavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';

function splitWith(text: string, re: RegExp, behavior: Behavior, invert: boolean): string[] {
  // Collect [start, end, isMatch] spans.
  const spans: [number, number, boolean][] = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    if (m.index > last) spans.push([last, m.index, false]);
    spans.push([m.index, m.index + m[0].length, true]);
    last = m.index + m[0].length;
  }
  if (last < text.length) spans.push([last, text.length, false]);
  if (invert) for (const s of spans) s[2] = !s[2];
  const out: string[] = [];
  const piece = (s: [number, number, boolean]) => text.slice(s[0], s[1]);
  switch (behavior) {
    case 'Removed':
      for (const s of spans) if (!s[2]) out.push(piece(s));
      break;
    case 'Isolated':
      for (const s of spans) out.push(piece(s));
      break;
    case 'MergedWithPrevious': {
      // A match joins the span before it unless that span was itself a match (the Rust fold).
      let prevMatch = false;
      for (const s of spans) {
        if (s[2] && !prevMatch && out.length > 0) out[out.length - 1] += piece(s);
        else out.push(piece(s));
        prevMatch = s[2];
      }
      break;
    }
    case 'MergedWithNext': {
      // Mirror image, folded from the right.
      let nextMatch = false;
      const rev: string[] = [];
      for (let i = spans.length - 1; i >= 0; i--) {
        const s = spans[i];
        if (s[2] && !nextMatch && rev.length > 0) rev[rev.length - 1] = piece(s) + rev[rev.length - 1];
        else rev.push(piece(s));
        nextMatch = s[2];
      }
      out.push(...rev.reverse());
      break;
    }
    case 'Contiguous':
      for (let i = 0; i < spans.length; i++) {
        if (i > 0 && spans[i - 1][2] === spans[i][2]) out[out.length - 1] += piece(spans[i]);
        else out.push(piece(spans[i]));
      }
      break;
  }
  return out.filter((x) => x.length > 0);
}

export function buildPreTokenizer(json: unknown): PreTokenizer | undefined {
  if (json == null) return undefined;
  const p = json as Json;
  switch (p.type) {
    case 'Sequence': {
      const parts = listOf(p, 'pretokenizers', 'pre-tokenizer')
        .map(buildPreTokenizer)
        .filter((x): x is PreTokenizer => !!x);
      return (pieces, first) => parts.reduce((acc, f) => f(acc, first), pieces);
    }
    case 'Split': {
      const re = patternRegex(p.pattern);
      const behavior = p.behavior as Behavior;
      const invert = p.invert === true;
      return (pieces) => pieces.flatMap((x) => splitWith(x, re, behavior, invert));
    }
    case 'ByteLevel': {
      const re = p.use_regex === false ? undefined : new RegExp(GPT2_PATTERN, 'gu');
      const addPrefix = p.add_prefix_space === true;
      return (pieces) =>
        pieces.flatMap((x, i) => {
          if (addPrefix && i === 0 && !x.startsWith(' ')) x = ' ' + x;
          return (re ? splitIsolated(x, re) : [x]).map(toByteLevel);
        });
    }
    case 'Metaspace': {
      const rep = stringOf(p, 'replacement', 'pre-tokenizer', '\u2581');
      const scheme =
        (p.prepend_scheme as string | undefined) ?? (p.add_prefix_space === false ? 'never' : 'always');
      const split = p.split !== false;
      return (pieces, first) =>
        pieces.flatMap((x, i) => {
          x = x.replaceAll(' ', rep);
          const prepend = scheme === 'always' || (scheme === 'first' && first && i === 0);
          if (prepend && !x.startsWith(rep)) x = rep + x;
          return split ? splitWith(x, new RegExp(escapeRegex(rep), 'gu'), 'MergedWithNext', false) : [x];
        });
    }
    case 'Digits': {
      const re = p.individual_digits === true ? /\p{N}/gu : /\p{N}+/gu;
      return (pieces) => pieces.flatMap((x) => splitWith(x, re, 'Isolated', false));
    }
    case 'WhitespaceSplit':
      return (pieces) => pieces.flatMap((x) => x.split(/\s+/u).filter((w) => w.length > 0));
    case 'Whitespace':
      return (pieces) => pieces.flatMap((x) => x.match(/\w+|[^\w\s]+/gu) ?? []);
    case 'Punctuation':
      return (pieces) =>
        pieces.flatMap((x) => splitWith(x, /\p{P}/gu, (p.behavior as Behavior) ?? 'Isolated', false));
    default:
      return unsupported('pre-tokenizer', p.type);
  }
}

export function buildDecoder(json: unknown): Decoder | undefined {
  if (json == null) return undefined;
  const d = json as Json;
  switch (d.type) {
    case 'Sequence': {
      const parts = listOf(d, 'decoders', 'decoder')
        .map(buildDecoder)
        .filter((x): x is Decoder => !!x);
      return (tokens) => parts.reduce((acc, f) => f(acc), tokens);
    }
    case 'Replace': {
      const re = patternRegex(d.pattern);
      const content = stringOf(d, 'content', 'decoder');
      return (tokens) => tokens.map((t) => t.replace(re, () => content));
    }
    case 'ByteFallback':
      return byteFallbackDecoder;
    case 'Fuse':
      return (tokens) => [tokens.join('')];
    case 'Strip': {
      const content = stringOf(d, 'content', 'decoder');
      const start = (d.start as number) ?? 0;
      const stop = (d.stop as number) ?? 0;
      return (tokens) =>
        tokens.map((t) => {
          const chars = Array.from(t);
          let a = 0;
          while (a < start && a < chars.length && chars[a] === content) a++;
          let b = chars.length;
          while (chars.length - b < stop && b > a && chars[b - 1] === content) b--;
          return chars.slice(a, b).join('');
        });
    }
    case 'Metaspace': {
      const rep = stringOf(d, 'replacement', 'decoder', '\u2581');
      const scheme =
        (d.prepend_scheme as string | undefined) ?? (d.add_prefix_space === false ? 'never' : 'always');
      return (tokens) =>
        tokens.map((t, i) => {
          const s = t.replaceAll(rep, ' ');
          return i === 0 && scheme !== 'never' && s.startsWith(' ') ? s.slice(1) : s;
        });
    }
    case 'ByteLevel':
      return (tokens) => [new TextDecoder().decode(fromByteLevel(tokens.join('')))];
    default:
      return unsupported('decoder', d.type);
  }
}

/** `<0xNN>` runs become text; an invalid run becomes one U+FFFD per byte token (the Rust decoder). */
function byteFallbackDecoder(tokens: string[]): string[] {
  const out: string[] = [];
  let bytes: number[] = [];
  const flush = () => {
    if (bytes.length === 0) return;
    try {
      out.push(new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes)));
    } catch {
      for (let i = 0; i < bytes.length; i++) out.push('\uFFFD');
    }
    bytes = [];
  };
  for (const t of tokens) {
    const m = t.length === 6 ? /^<0x([0-9A-Fa-f]{2})>$/.exec(t) : null;
    if (m) bytes.push(parseInt(m[1], 16));
    else {
      flush();
      out.push(t);
    }
  }
  flush();
  return out;
}

export { BYTE_TO_CHAR };
