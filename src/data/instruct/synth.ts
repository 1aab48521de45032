/**
 * A synthetic instruction set from the corpus's own sources, for the demo's SFT and DPO: every item has a
 * prompt, the correct answer and plausible wrong ones (same kind, same length or part of speech), so the
 * wrong answers are hard negatives rather than noise. Kinds: word → WordNet definition, first half of a
 * couplet → second half, poem title → author, and small arithmetic. Deterministic given the seed.
 */
import { Rng } from '../random.js';
import type { Poem } from '../corpus/poetry.js';
import type { Synset } from '../corpus/wordnet.js';

export type InstructionKind = 'definition' | 'next-line' | 'author' | 'arithmetic';

export interface InstructionItem {
  id: string;
  kind: InstructionKind;
  lang: 'en' | 'zh';
  prompt: string;
  /** The correct answer. */
  chosen: string;
  /** Plausible wrong answers (at least one), for preference pairs and multiple choice. */
  rejected: string[];
}

/** MiniCPM's chat format (SPEC §6): plain-text role markers, no special tokens. */
export function chatText(prompt: string, answer: string): string {
  return `<用户>${prompt.trim()}<AI>${answer.trim()}`;
}

/** `k` distinct items of `pool` that pass `ok`, drawn at random (fewer if the pool runs short). */
function distinct<T>(rng: Rng, pool: readonly T[], k: number, ok: (x: T) => boolean): T[] {
  const out: T[] = [];
  for (let tries = 0; out.length < k && tries < k * 50 && pool.length; tries++) {
    const x = rng.pick(pool);
    if (ok(x) && !out.includes(x)) out.push(x);
  }
  return out;
}

function groupBy<T, K>(xs: readonly T[], key: (x: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

function sentence(s: string): string {
  const t = s.trim();
  return t.charAt(0).toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? '' : '.');
}

/** Word → definition, for words with exactly one sense in all of WordNet (so the answer is unambiguous). */
export function* definitionItems(synsets: Synset[], rng: Rng, n: number): Generator<InstructionItem> {
  const senses = new Map<string, number>();
  for (const s of synsets)
    for (const w of s.words) senses.set(w.toLowerCase(), (senses.get(w.toLowerCase()) ?? 0) + 1);
  const byPos = groupBy(synsets, (s) => s.pos);
  const eligible = synsets.filter(
    (s) => s.definition.length >= 12 && s.words.some((w) => /^[a-z]{4,}$/.test(w) && senses.get(w) === 1),
  );
  const order = rng.shuffle([...eligible.keys()]);
  let made = 0;
  for (const i of order) {
    if (made >= n) return;
    const s = eligible[i];
    const word = s.words.find((w) => /^[a-z]{4,}$/.test(w) && senses.get(w) === 1)!;
    const wrong = distinct(
      rng,
      byPos.get(s.pos)!,
      3,
      (o) => o !== s && o.definition !== s.definition && o.definition.length >= 12,
    );
    if (!wrong.length) continue;
    yield {
      id: `definition-${made}`,
      kind: 'definition',
      lang: 'en',
      prompt: `What does the ${s.pos} "${word}" mean?`,
      chosen: sentence(s.definition),
      rejected: wrong.map((o) => sentence(o.definition)),
    };
    made++;
  }
}

/** Couplet halves (…，…。) of the poems, keeping only first halves with a single known continuation. */
function couplets(poems: Poem[]): { first: string; second: string }[] {
  const seen = new Map<string, string | null>();
  for (const p of poems) {
    for (const line of p.lines) {
      const m = /^([^，。？！；]{3,9}，)([^，。？！；]{3,9}[。？！；])$/.exec(line);
      if (!m || m[1].includes('□')) continue;
      const prev = seen.get(m[1]);
      seen.set(m[1], prev === undefined || prev === m[2] ? m[2] : null);
    }
  }
  return [...seen].filter(([, s]) => s !== null).map(([first, second]) => ({ first, second: second! }));
}

/** First half of a couplet → second half; wrong answers are second halves of the same length. */
export function* nextLineItems(poems: Poem[], rng: Rng, n: number): Generator<InstructionItem> {
  const pairs = couplets(poems);
  const byLen = groupBy(
    pairs.map((p) => p.second),
    (s) => s.length,
  );
  const order = rng.shuffle([...pairs.keys()]);
  let made = 0;
  for (const i of order) {
    if (made >= n) return;
    const { first, second } = pairs[i];
    const wrong = distinct(rng, byLen.get(second.length)!, 3, (s) => s !== second);
    if (!wrong.length) continue;
    yield {
      id: `next-line-${made}`,
      kind: 'next-line',
      lang: 'zh',
      prompt: `请写出下一句：${first}`,
      chosen: second,
      rejected: wrong,
    };
    made++;
  }
}

/** "Anonymous" is no answer to "who wrote it?", nor a fair distractor. */
const ANONYMOUS = new Set(['無名氏', '无名氏', '佚名', '不詳', '不详']);

/** Title → author, for titles only one poet used; wrong answers are other poets of the collection. */
export function* authorItems(poems: Poem[], rng: Rng, n: number): Generator<InstructionItem> {
  const authorsOf = new Map<string, Set<string>>();
  for (const p of poems) {
    if (!p.title || !p.author || p.title.length > 16 || ANONYMOUS.has(p.author)) continue;
    authorsOf.set(p.title, (authorsOf.get(p.title) ?? new Set()).add(p.author));
  }
  const counts = new Map<string, number>();
  for (const p of poems)
    if (p.author && !ANONYMOUS.has(p.author)) counts.set(p.author, (counts.get(p.author) ?? 0) + 1);
  // Poets with several poems make believable distractors; one-poem names are mostly obscure.
  const poets = [...counts]
    .filter(([, c]) => c >= 5)
    .map(([a]) => a)
    .sort();
  const titles = [...authorsOf]
    .filter(([, a]) => a.size === 1)
    .map(([t, a]) => ({ title: t, author: [...a][0] }));
  const order = rng.shuffle([...titles.keys()]);
  let made = 0;
  for (const i of order) {
    if (made >= n) return;
    const { title, author } = titles[i];
    const wrong = distinct(rng, poets, 3, (a) => a !== author);
    if (!wrong.length) continue;
    yield {
      id: `author-${made}`,
      kind: 'author',
      lang: 'zh',
      prompt: `《${title}》的作者是谁？`,
      chosen: author,
      rejected: wrong,
    };
    made++;
  }
}

/** Sums, differences and products with the mistakes people make: off by one, off by ten, a lost carry. */
export function* arithmeticItems(rng: Rng, n: number): Generator<InstructionItem> {
  for (let made = 0; made < n; made++) {
    const op = rng.pick(['+', '-', '×'] as const);
    let a: number;
    let b: number;
    if (op === '×') {
      a = 2 + rng.int(98);
      b = 2 + rng.int(20);
    } else {
      a = 10 + rng.int(990);
      b = 10 + rng.int(990);
      if (op === '-' && b > a) [a, b] = [b, a];
    }
    const value = op === '+' ? a + b : op === '-' ? a - b : a * b;
    const candidates = [
      value + 1,
      value - 1,
      value + 10,
      value - 10,
      op === '×' ? value + a : Number(String(value).split('').reverse().join('')),
    ];
    const wrong = [...new Set(candidates)].filter((v) => v !== value && v >= 0).slice(0, 3);
    const zh = rng.float() < 0.5;
    const word = { '+': '加', '-': '减', '×': '乘以' }[op];
    yield {
      id: `arithmetic-${made}`,
      kind: 'arithmetic',
      lang: zh ? 'zh' : 'en',
      prompt: zh ? `${a}${word}${b}等于多少？` : `What is ${a} ${op === '×' ? '*' : op} ${b}?`,
      chosen: String(value),
      rejected: wrong.map(String),
    };
  }
}

export interface SynthOptions {
  seed: number;
  /** Items per kind (arithmetic gets half). */
  perKind: number;
}

/** All kinds, interleaved in a seeded order so any prefix of the set has every kind. */
export function synthesizeInstructions(
  input: { synsets: Synset[]; poems: Poem[] },
  o: SynthOptions,
): InstructionItem[] {
  const rng = new Rng(o.seed);
  const items = [
    ...definitionItems(input.synsets, rng, o.perKind),
    ...nextLineItems(input.poems, rng, o.perKind),
    ...authorItems(input.poems, rng, o.perKind),
    ...arithmeticItems(rng, Math.ceil(o.perKind / 2)),
  ];
  return rng.shuffle(items);
}
