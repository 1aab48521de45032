/**
 * SentencePiece's Decode: control pieces are invisible, `<unk>` prints as the unk surface (" ⁇ "), runs of
 * byte pieces are joined and decoded as UTF-8 (each malformed byte → U+FFFD), "▁" becomes a space, and
 * with add_dummy_prefix / remove_extra_whitespaces the first piece's leading "▁" is dropped.
 */
import { decodeUtf8PerByte } from './utf8.js';
import { PieceType } from './types.js';

export interface SpDecodeContext {
  pieces: readonly string[];
  types: ArrayLike<number>;
  byteValue: (id: number) => number;
  unkSurface: string;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
}

export function spDecode(ctx: SpDecodeContext, ids: ArrayLike<number>, skipSpecial = true): string {
  let text = '';
  let bytes: number[] = [];
  let isBosWs = true;
  let bosWsSeen = false;
  const stripFirst = ctx.addDummyPrefix || ctx.removeExtraWhitespaces;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!(id >= 0 && id < ctx.pieces.length)) {
      throw new RangeError(`cannot decode id ${id}: the vocabulary has ids 0..${ctx.pieces.length - 1}`);
    }
    const type = ctx.types[id];
    if (type === PieceType.Byte) {
      bytes.push(ctx.byteValue(id));
      continue;
    }
    if (bytes.length > 0) {
      text += decodeUtf8PerByte(bytes);
      bytes = [];
    }
    if (bosWsSeen || text.length > 0) isBosWs = false;
    let piece = ctx.pieces[id];
    bosWsSeen = false;
    if (type === PieceType.Control) {
      if (!skipSpecial) text += piece;
      continue;
    }
    if (type === PieceType.Unknown) {
      text += ctx.unkSurface;
      continue;
    }
    if (isBosWs && stripFirst && piece.startsWith('\u2581')) {
      piece = piece.slice(1);
      bosWsSeen = !ctx.removeExtraWhitespaces;
    }
    text += piece.replaceAll('\u2581', ' ');
  }
  if (bytes.length > 0) text += decodeUtf8PerByte(bytes);
  return text;
}
