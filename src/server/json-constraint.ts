/**
 * `response_format: {"type": "json_object"}` / `{"type": "json_schema"}`: constrained decoding that can
 * only produce a JSON object (one that validates against the schema, json-schema.ts).
 * Each sampled token is checked against the JSON prefix recognizer (json-prefix.ts) and replaced by a
 * redraw when it does not fit (the scheduler's pick); once the object is complete the end-of-text token
 * is forced. A token's text is what it adds after an ordinary token (so SentencePiece's word-start
 * space is kept); a byte-fallback piece of a multi-byte character can only appear inside a string.
 */
import type { Tokenizer } from '../tokenizer/index.js';
import { feedText, isComplete, jsonStart, type JsonState } from './json-prefix.js';
import type { SchemaNode } from './json-schema.js';
import { feedSchemaText, schemaComplete, schemaStart, type SchemaState } from './json-schema-prefix.js';
import type { TokenConstraint } from './scheduler.js';

/** Stands for any non-ASCII character (valid inside strings only). */
const NON_ASCII = '\u0080';

/** The text each token adds, computed on first use (null: a special token that adds none). */
export class TokenTexts {
  private readonly texts: (string | null | undefined)[];
  private readonly anchor: number[];
  private readonly anchorText: string;

  constructor(private readonly tok: Tokenizer) {
    this.texts = new Array<string | null | undefined>(tok.vocabSize);
    this.anchor = tok.encode('a').slice(-1);
    this.anchorText = tok.decode(this.anchor);
  }

  text(id: number): string | null {
    let t = this.texts[id];
    if (t !== undefined) return t;
    const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(this.tok.idToPiece(id));
    if (this.tok.isSpecial(id)) t = null;
    else if (byte) t = parseInt(byte[1], 16) < 0x80 ? String.fromCharCode(parseInt(byte[1], 16)) : NON_ASCII;
    else {
      const s = this.tok.decode([...this.anchor, id]);
      t = s.startsWith(this.anchorText) ? s.slice(this.anchorText.length) : s;
      if (t.includes('\uFFFD')) t = NON_ASCII;
    }
    this.texts[id] = t;
    return t;
  }

  /** A token as log-probs show it: its text, or `bytes:\\xNN` for a piece of a multi-byte character. */
  display(id: number): string {
    const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(this.tok.idToPiece(id));
    if (byte && parseInt(byte[1], 16) >= 0x80) return `bytes:\\x${byte[1].toLowerCase()}`;
    const t = this.text(id);
    return t === null ? '' : t === NON_ASCII ? this.tok.decode([id]) : t;
  }
}

/** A character-level recognizer of the texts a constraint allows (json-prefix.ts, json-schema-prefix.ts). */
export interface TextRecognizer<S> {
  start: S;
  feedText(s: S, text: string): S | null;
  complete(s: S): boolean;
}

/** Any JSON object (json_object). */
export const jsonObjectText: TextRecognizer<JsonState> = {
  start: jsonStart(true),
  feedText,
  complete: isComplete,
};

/** A JSON object that validates against a compiled schema (json_schema). */
export function schemaText(root: SchemaNode): TextRecognizer<SchemaState> {
  return { start: schemaStart(root), feedText: feedSchemaText, complete: schemaComplete };
}

export class JsonConstraint<S = JsonState> implements TokenConstraint {
  private state: S;

  constructor(
    private readonly texts: TokenTexts,
    private readonly eos: number,
    private readonly text: TextRecognizer<S> = jsonObjectText as unknown as TextRecognizer<S>,
  ) {
    this.state = text.start;
  }

  get complete(): boolean {
    return this.text.complete(this.state);
  }

  forced(): number | undefined {
    return this.complete && this.eos >= 0 ? this.eos : undefined;
  }

  allow(id: number): boolean {
    if (id === this.eos) return this.complete;
    const t = this.texts.text(id);
    return !!t && this.text.feedText(this.state, t) !== null;
  }

  accept(id: number): void {
    if (id === this.eos) return;
    const t = this.texts.text(id);
    const next = t ? this.text.feedText(this.state, t) : null;
    if (!next) throw new Error(`token ${id} does not continue the JSON text`);
    this.state = next;
  }
}
