/**
 * Hugging Face `tokenizer.json` with a BPE model: added tokens, normalizer, pre-tokenizer, BPE by merge
 * rank (rank-bpe.ts), template post-processing and the decoder chain — matching the Rust fast tokenizer.
 */
import { TokenizerFormatError, UnsupportedTokenizerError } from './errors.js';
import {
  buildDecoder,
  buildNormalizer,
  buildPreTokenizer,
  type Decoder,
  type Normalizer,
  type PreTokenizer,
} from './hf-pipeline.js';
import { PrefixMatcher } from './prefix-matcher.js';
import { RankBpe } from './rank-bpe.js';
import type { DecodeOptions, EncodeOptions, Tokenizer } from './types.js';

type Json = Record<string, unknown>;

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  singleWord?: boolean;
  normalized?: boolean;
}

export interface HfTokenizerOverrides {
  bosToken?: string;
  eosToken?: string;
  padToken?: string;
  addBos?: boolean;
  addEos?: boolean;
  source?: string;
}

export class HfTokenizer implements Tokenizer {
  readonly kind: string;
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
  readonly padId: number;
  /** Whether the model's post-processor adds BOS/EOS (transformers' add_special_tokens=True). */
  readonly addBosByDefault: boolean;
  readonly addEosByDefault: boolean;
  readonly bpe: RankBpe;
  readonly added: AddedToken[];
  private readonly idToToken: string[];
  private readonly specialIds = new Set<number>();
  private readonly normalizer?: Normalizer;
  private readonly preTokenizer?: PreTokenizer;
  private readonly decoder?: Decoder;
  private readonly rawMatcher: { all: PrefixMatcher; nonSpecial: PrefixMatcher };
  private readonly normMatcher: { all: PrefixMatcher; nonSpecial: PrefixMatcher };
  private readonly addedByContent = new Map<string, AddedToken>();
  private readonly prefixIds: number[] = [];
  private readonly suffixIds: number[] = [];

  constructor(json: unknown, o: HfTokenizerOverrides = {}) {
    const source = o.source ?? 'tokenizer.json';
    const j = json as Json;
    const model = j?.model as Json | undefined;
    if (!model || typeof model !== 'object' || !model.vocab) {
      throw new TokenizerFormatError(`${source} has no model.vocab: it is not a Hugging Face tokenizer.json`);
    }
    const type = model.type ?? (model.merges ? 'BPE' : undefined);
    if (type !== 'BPE') {
      throw new UnsupportedTokenizerError(
        `${source} has a ${JSON.stringify(type)} model; only BPE tokenizer.json is supported`,
      );
    }
    const vocab = new Map<string, number>(Object.entries(model.vocab as Record<string, number>));
    // ids size the id → token table: a corrupt one must not ask for an array of 2^32 entries
    const isId = (id: unknown): boolean =>
      Number.isInteger(id) && (id as number) >= 0 && (id as number) < 1 << 24;
    for (const [tok, id] of vocab)
      if (!isId(id))
        throw new TokenizerFormatError(
          `${source}: "${tok}" has id ${JSON.stringify(id)}, not a token id (0 to 2^24 − 1)`,
        );
    const merges = ((model.merges as unknown[]) ?? []).map((m): [string, string] => {
      if (Array.isArray(m)) return [String(m[0]), String(m[1])];
      const s = String(m);
      const k = s.indexOf(' ', 1);
      if (k < 0) throw new TokenizerFormatError(`${source} has a malformed merge ${JSON.stringify(s)}`);
      return [s.slice(0, k), s.slice(k + 1)];
    });
    const unkToken = model.unk_token as string | null | undefined;
    this.bpe = new RankBpe({
      vocab,
      merges,
      unkId: unkToken != null ? vocab.get(unkToken) : undefined,
      byteFallback: model.byte_fallback === true,
      fuseUnk: model.fuse_unk === true,
      ignoreMerges: model.ignore_merges === true,
      continuingSubwordPrefix: (model.continuing_subword_prefix as string | null) ?? undefined,
      endOfWordSuffix: (model.end_of_word_suffix as string | null) ?? undefined,
    });
    if (this.bpe.missingMerges.length > 0) {
      throw new TokenizerFormatError(
        `${source} has merge "${this.bpe.missingMerges[0]}" whose tokens are not in the vocabulary: the file is corrupt`,
      );
    }
    const addedJson: unknown = j.added_tokens ?? [];
    if (!Array.isArray(addedJson)) throw new TokenizerFormatError(`${source}: added_tokens must be a list`);
    for (const t of addedJson as Json[])
      if (!t || typeof t !== 'object' || !isId(t.id) || typeof t.content !== 'string')
        throw new TokenizerFormatError(
          `${source}: an added token must have an integer id (0 to 2^24 − 1) and a string content, got ${JSON.stringify(t).slice(0, 80)}`,
        );
    this.added = (addedJson as Json[]).map((t) => ({
      id: t.id as number,
      content: t.content as string,
      special: t.special === true,
      lstrip: t.lstrip === true,
      rstrip: t.rstrip === true,
      singleWord: t.single_word === true,
      normalized: t.normalized === true,
    }));
    let size = 0;
    for (const id of vocab.values()) size = Math.max(size, id + 1);
    for (const t of this.added) size = Math.max(size, t.id + 1);
    this.vocabSize = size;
    this.idToToken = new Array<string>(size).fill('');
    for (const [tok, id] of vocab) this.idToToken[id] = tok;
    for (const t of this.added) {
      this.idToToken[t.id] = t.content;
      this.addedByContent.set(t.content, t);
      if (t.special) this.specialIds.add(t.id);
    }
    const matchers = (normalized: boolean) => ({
      all: new PrefixMatcher(
        this.added.filter((t) => (t.normalized ?? !t.special) === normalized).map((t) => t.content),
      ),
      nonSpecial: new PrefixMatcher(
        this.added.filter((t) => !t.special && (t.normalized ?? true) === normalized).map((t) => t.content),
      ),
    });
    this.rawMatcher = matchers(false);
    this.normMatcher = matchers(true);
    this.normalizer = buildNormalizer(j.normalizer);
    this.preTokenizer = buildPreTokenizer(j.pre_tokenizer);
    this.decoder = buildDecoder(j.decoder);
    const byteLevel = JSON.stringify(j.pre_tokenizer ?? '').includes('"ByteLevel"');
    this.kind = byteLevel ? 'byte-level-bpe' : 'hf-bpe';

    this.readTemplate(j.post_processor as Json | null | undefined);
    const idOf = (tok: string | undefined) => (tok !== undefined ? this.pieceToId(tok) : undefined);
    this.unkId = unkToken != null ? (vocab.get(unkToken) ?? -1) : -1;
    this.bosId = idOf(o.bosToken) ?? this.prefixIds[0] ?? idOf('<s>') ?? -1;
    this.eosId =
      idOf(o.eosToken) ??
      this.suffixIds[this.suffixIds.length - 1] ??
      idOf('</s>') ??
      idOf('<|endoftext|>') ??
      -1;
    this.padId = idOf(o.padToken) ?? idOf('<pad>') ?? -1;
    this.addBosByDefault = o.addBos ?? this.prefixIds.length > 0;
    this.addEosByDefault = o.addEos ?? this.suffixIds.length > 0;
  }

  /** TemplateProcessing "single": special tokens before and after `$A`. */
  private readTemplate(pp: Json | null | undefined): void {
    if (!pp || pp.type !== 'TemplateProcessing') return;
    const specials = (pp.special_tokens as Record<string, { ids: number[] }> | undefined) ?? {};
    let seenSequence = false;
    for (const item of (pp.single as Json[] | undefined) ?? []) {
      if ('Sequence' in item) seenSequence = true;
      const st = item.SpecialToken as { id: string } | undefined;
      if (!st) continue;
      const ids = specials[st.id]?.ids ?? [this.pieceToId(st.id) ?? -1];
      (seenSequence ? this.suffixIds : this.prefixIds).push(...ids.filter((x) => x >= 0));
    }
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (options.addBos) {
      if (this.prefixIds.length > 0) out.push(...this.prefixIds);
      else if (this.bosId >= 0) out.push(this.bosId);
    }
    const parseSpecial = options.parseSpecial === true;
    const raw = parseSpecial ? this.rawMatcher.all : this.rawMatcher.nonSpecial;
    let first = true;
    for (const [section, token] of this.splitAdded(text, raw)) {
      if (token) out.push(token.id);
      else this.encodeSection(section, first, parseSpecial, out);
      first = false;
    }
    if (options.addEos) {
      if (this.suffixIds.length > 0) out.push(...this.suffixIds);
      else if (this.eosId >= 0) out.push(this.eosId);
    }
    return out;
  }

  private encodeSection(text: string, first: boolean, parseSpecial: boolean, out: number[]): void {
    const normalized = this.normalizer ? this.normalizer(text) : text;
    const matcher = parseSpecial ? this.normMatcher.all : this.normMatcher.nonSpecial;
    let firstPart = first;
    for (const [part, token] of this.splitAdded(normalized, matcher)) {
      if (token) {
        out.push(token.id);
        firstPart = false;
        continue;
      }
      if (!this.preTokenizer) this.bpe.encodeUnsplit(part, out);
      else for (const word of this.preTokenizer([part], firstPart)) this.bpe.encodeWord(word, out);
      firstPart = false;
    }
  }

  /** Splits around added tokens (leftmost-longest), honouring lstrip/rstrip/single_word. */
  private splitAdded(text: string, matcher: PrefixMatcher): [string, AddedToken | undefined][] {
    if (matcher.empty) return text.length > 0 ? [[text, undefined]] : [];
    const out: [string, AddedToken | undefined][] = [];
    let start = 0;
    for (let i = 0; i < text.length;) {
      const len = matcher.matchString(text, i);
      if (len === 0) {
        i++;
        continue;
      }
      const tok = this.addedByContent.get(text.slice(i, i + len))!;
      let a = i;
      let b = i + len;
      if (tok.singleWord && (isWordChar(text, a - 1) || isWordChar(text, b))) {
        i++;
        continue;
      }
      if (tok.lstrip) while (a > start && /\s/u.test(text[a - 1])) a--;
      if (tok.rstrip) while (b < text.length && /\s/u.test(text[b])) b++;
      if (a > start) out.push([text.slice(start, a), undefined]);
      out.push([text.slice(a, b), tok]);
      i = b;
      start = b;
    }
    if (start < text.length) out.push([text.slice(start), undefined]);
    return out;
  }

  encodeAsPieces(text: string, options?: EncodeOptions): string[] {
    return this.encode(text, options).map((id) => this.idToPiece(id));
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const skip = options.skipSpecial ?? true;
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (skip && this.specialIds.has(id)) continue;
      tokens.push(this.idToPiece(id));
    }
    return this.decoder ? this.decoder(tokens).join('') : tokens.join(' ');
  }

  idToPiece(id: number): string {
    const t = this.idToToken[id];
    if (t === undefined)
      throw new RangeError(`id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
    return t;
  }

  pieceToId(piece: string): number | undefined {
    return this.addedByContent.get(piece)?.id ?? this.bpe.vocab.get(piece);
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }
}

function isWordChar(s: string, i: number): boolean {
  return i >= 0 && i < s.length && /[\p{L}\p{N}_]/u.test(s[i]);
}
