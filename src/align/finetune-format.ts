/**
 * The SFT rendering of OpenBMB's `finetune/finetune.py` as of March 2024 (SPEC §8), reproduced id for id:
 *
 *   <s>, then per message the fixed marker ids (user: `<用户>` = [1786, 4194, 95388]; any other role, a
 *   system message included, is treated as the assistant: `<AI>` = [1786, 10850, 95388]) followed by the
 *   content as it is (not stripped) encoded without special tokens; one `</s>` at the very end.
 *   Labels: the assistant contents and that final `</s>`.
 *
 * The script encoded with transformers' fast Llama tokenizer, whose normalizer prepends `▁` to every text
 * it encodes (SPEC §6): the marker ids are exactly that encoding of `<用户>` and `<AI>` (`▁<`, …), and the
 * script's own logged decode of a training example reads `<s> <用户> 请判断…` and `<AI> entailment`. So a
 * content's ids are SentencePiece's ids of `" " + content` (nothing for an empty content, which that
 * normalizer leaves empty). Encoding `<用户>` as text, as `renderMiniCpmChat` does, gives 95396 (`<`)
 * instead. The ids are MiniCPM-2B's vocabulary: another tokenizer must have the same pieces there.
 */
import type { ChatMessage, RenderedChat, Tokenizer } from '../tokenizer/index.js';
import { AlignError } from './errors.js';

export const FINETUNE_USER_IDS: readonly number[] = [1786, 4194, 95388];
export const FINETUNE_ASSISTANT_IDS: readonly number[] = [1786, 10850, 95388];
/** The pieces those ids stand for in MiniCPM-2B's tokenizer.model. */
const MARKER_PIECES = new Map([
  [1786, '▁<'],
  [4194, '用户'],
  [10850, 'AI'],
  [95388, '>'],
]);

export interface FinetuneChatOptions {
  /** End with the assistant marker and no `</s>`, for scoring an answer after it (DPO prompts). */
  addGenerationPrompt?: boolean;
}

/** Throws unless the tokenizer has MiniCPM-2B's marker pieces at the fixed ids. */
export function checkFinetuneVocabulary(tok: Tokenizer): void {
  for (const [id, piece] of MARKER_PIECES) {
    const have = id < tok.vocabSize ? tok.idToPiece(id) : undefined;
    if (have !== piece)
      throw new AlignError(
        `--chat-format minicpm-finetune needs MiniCPM-2B's vocabulary (id ${id} = "${piece}"), ` +
          `this tokenizer has ${JSON.stringify(have)} there; use --chat-format minicpm`,
      );
  }
}

export function renderFinetuneChat(
  tok: Tokenizer,
  messages: readonly ChatMessage[],
  o: FinetuneChatOptions = {},
): RenderedChat {
  if (messages.length === 0) throw new AlignError('a conversation needs at least one message');
  checkFinetuneVocabulary(tok);
  const ids: number[] = [tok.bosId];
  const mask: number[] = [0];
  const push = (part: readonly number[], m: number) => {
    for (const id of part) {
      ids.push(id);
      mask.push(m);
    }
  };
  for (const m of messages) {
    const content = m.content === '' ? [] : tok.encode(` ${m.content}`);
    if (m.role === 'user') {
      push(FINETUNE_USER_IDS, 0);
      push(content, 0);
    } else {
      push(FINETUNE_ASSISTANT_IDS, 0);
      push(content, 1);
    }
  }
  if (o.addGenerationPrompt) {
    push(FINETUNE_ASSISTANT_IDS, 0);
  } else {
    // the script appends one </s> and labels it whatever the last role was
    ids.push(tok.eosId);
    mask.push(1);
  }
  return { ids, mask };
}
