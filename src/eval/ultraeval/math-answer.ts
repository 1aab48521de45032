/**
 * UltraEval's MATH answer normalisation (`math_post`, SPEC §8), applied alike to the model's output and to
 * the reference's last `\boxed{…}`, then compared as strings. It is heuristic by design — the reference
 * "0.5" becomes "0" because the text is cut at its first period when no line says "final answer",
 * "therefore", "thus" or "hence" — and is reproduced as it is, since the published scores depend on it.
 * (`.` in Python's patterns is `[^\n]` here: JavaScript's `.` also stops at \r and U+2028/9.)
 * Steps that raise in Python raise here (`MathPostError`) so that the caller falls back the same way.
 */
import { pyIsDigit, pyStrip } from './py-str.js';

class MathPostError extends Error {}

const SUBSTITUTIONS: [string, string][] = [
  ['an ', ''],
  ['a ', ''],
  ['.$', '$'],
  ['\\$', ''],
  ['\\ ', ''],
  [' ', ''],
  ['mbox', 'text'],
  [',\\text{and}', ','],
  ['\\text{and}', ','],
  ['\\text{m}', '\\text{}'],
  ['\\le', '<'],
];
const REMOVED = [
  'square',
  'ways',
  'integers',
  'dollars',
  'mph',
  'inches',
  'ft',
  'hours',
  'km',
  'units',
  '\\ldots',
  'sue',
  'points',
  'feet',
  'minutes',
  'digits',
  'cents',
  'degrees',
  'cm',
  'gm',
  'pounds',
  'meters',
  'meals',
  'edges',
  'students',
  'childrentickets',
  'multiples',
  '\\text{s}',
  '\\text{.}',
  '\\text{\ns}',
  '\\text{}^2',
  '\\text{}^3',
  '\\text{\n}',
  '\\text{}',
  '\\mathrm{th}',
  '^\\circ',
  '^{\\circ}',
  '\\;',
  ',\\!',
  '{,}',
  '"',
  '\\dots',
  '\n',
  '\r',
  '\f',
];

const lastMatch = (s: string, re: RegExp): string | undefined => {
  const all = [...s.matchAll(re)];
  return all.length ? all[all.length - 1][1] : undefined;
};

export function normalizeFinalAnswer(answer: string): string {
  let s = answer;
  for (const [a, b] of SUBSTITUTIONS) s = s.replaceAll(a, b);
  for (const e of REMOVED) s = s.replaceAll(e, '');
  s = s.replace(/(\\text\{)([^\n]*?)(\})/gu, '$2');
  s = s.replace(/(\\textbf\{)([^\n]*?)(\})/gu, '$2');
  s = s.replace(/(\\overline\{)([^\n]*?)(\})/gu, '$2');
  s = s.replace(/(\\boxed\{)([^\n]*)(\})/gu, '$2');
  s = lastMatch(s, /finalansweris([^\n]*)/gu) ?? s;
  s = lastMatch(s, /oxed\{([^\n]*?)\}/gu) ?? s;
  s = lastMatch(s, /\$([^\n]*?)\$/gu) ?? s;
  s = pyStrip(s);
  if (s.includes('rac') && !s.includes('\\frac')) s = s.replaceAll('rac', '\\frac');
  s = s.replace(/(frac)([^{])([^\n])/gu, 'frac{$2}{$3}');
  s = s.replace(/(sqrt)([^{])/g, 'sqrt{$2}');
  s = s.replaceAll('$', '');
  if (pyIsDigit(s.replaceAll(',', ''))) s = s.replaceAll(',', '');
  return s;
}

const KEYWORDS = ['final answer', 'therefore', 'thus', 'hence'];

export function mathPostprocess(text: string): string {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--)
    for (const piece of lines[i].split('.'))
      if (KEYWORDS.some((k) => piece.toLowerCase().includes(k))) return normalizeFinalAnswer(piece);
  return normalizeFinalAnswer(text.split('.')[0]);
}

function fixFracs(string: string): string {
  const parts = string.split('\\frac');
  let out = parts[0];
  for (const sub of parts.slice(1)) {
    out += '\\frac';
    if (sub.length === 0) throw new MathPostError('empty \\frac'); // Python: substr[0] raises
    if (sub[0] === '{') out += sub;
    else {
      if (sub.length < 2) return string;
      const [a, b] = [sub[0], sub[1]];
      if (b !== '{') out += `{${a}}{${b}}${sub.slice(2)}`;
      else out += `{${a}}${b}${sub.slice(2)}`;
    }
  }
  return out;
}

function fixASlashB(string: string): string {
  const parts = string.split('/');
  if (parts.length !== 2) return string;
  // int(a), int(b) and `string == f"{a}/{b}"`: canonical integers only
  const canonical = /^(0|-?[1-9][0-9]*)$/;
  return canonical.test(parts[0]) && canonical.test(parts[1]) ? `\\frac{${parts[0]}}{${parts[1]}}` : string;
}

function removeRightUnits(string: string): string {
  if (!string.includes('\\text{ ')) return string;
  const parts = string.split('\\text{ ');
  if (parts.length !== 2) throw new MathPostError('units split');
  return parts[0];
}

function fixSqrt(string: string): string {
  if (!string.includes('\\sqrt')) return string;
  const parts = string.split('\\sqrt');
  let out = parts[0];
  for (const p of parts.slice(1)) {
    if (p.length === 0) throw new MathPostError('empty \\sqrt'); // Python: split[0] raises
    out += p[0] !== '{' ? `\\sqrt{${p[0]}}${p.slice(1)}` : `\\sqrt${p}`;
  }
  return out;
}

export function stripString(input: string): string {
  let s = input.replaceAll('\n', '').replaceAll('\\!', '').replaceAll('\\\\', '\\');
  s = s.replaceAll('tfrac', 'frac').replaceAll('dfrac', 'frac');
  s = s.replaceAll('\\left', '').replaceAll('\\right', '');
  s = s.replaceAll('^{\\circ}', '').replaceAll('^\\circ', '');
  s = s.replaceAll('\\$', '');
  s = removeRightUnits(s);
  s = s.replaceAll('\\%', '');
  s = s.replaceAll(' .', ' 0.').replaceAll('{.', '{0.');
  if (s.length === 0) return s;
  if (s[0] === '.') s = '0' + s;
  const eq = s.split('=');
  if (eq.length === 2 && eq[0].length <= 2) s = eq[1];
  s = fixSqrt(s);
  s = s.replaceAll(' ', '');
  s = fixFracs(s);
  if (s === '0.5') s = '\\frac{1}{2}';
  return fixASlashB(s);
}

/** `MathPost` on one text: strip(post(text)), else post(text), else the text itself. */
export function mathPost(text: string): string {
  try {
    return stripString(mathPostprocess(text));
  } catch {
    try {
      return mathPostprocess(text);
    } catch {
      return text;
    }
  }
}

/** The solution's last `\boxed{…}` or `\fbox{…}` with its braces (`last_boxed_only_string`). */
export function lastBoxedOnly(s: string): string | null {
  let idx = s.lastIndexOf('\\boxed');
  if (idx < 0) idx = s.lastIndexOf('\\fbox');
  if (idx < 0) return null;
  let open = 0;
  for (let i = idx; i < s.length; i++) {
    if (s[i] === '{') open++;
    if (s[i] === '}') {
      open--;
      if (open === 0) return s.slice(idx, i + 1);
    }
  }
  return null;
}

/** `remove_boxed`: the inside of `\boxed{…}`, or null (Python: None) for anything else. */
export function removeBoxed(s: string | null): string | null {
  if (s === null || !s.startsWith('\\boxed{') || !s.endsWith('}')) return null;
  return s.slice('\\boxed{'.length, -1);
}
