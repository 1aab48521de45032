/**
 * The demo's instruction data, cut once from the built-in synthetic set: SFT conversations and DPO pairs
 * from disjoint parts of the training split (a seeded shuffle), and from the validation split the held-out
 * tasks of the evaluation table plus, apart from them, the SFT/DPO validation items. A DPO pair prefers the
 * right answer over one of the item's plausible wrong ones, so the preference is about correctness.
 */
import type { Conversation, PreferencePair } from '../align/index.js';
import { corpusDocsDir } from '../data/corpus/build-corpus.js';
import { readInstructions } from '../data/instruct/read.js';
import type { InstructionItem } from '../data/instruct/synth.js';
import { permutation } from '../data/random.js';
import { DemoError } from './options.js';

export interface InstructSplits {
  sft: Conversation[];
  dpo: PreferencePair[];
  /** Held-out tasks scored in the evaluation table (kinds interleaved). */
  evalItems: InstructionItem[];
  /** Held-out conversations and pairs for the SFT and DPO validation losses (disjoint from evalItems). */
  heldOutConversations: Conversation[];
  heldOutPairs: PreferencePair[];
}

const conversation = (it: InstructionItem): Conversation => ({
  messages: [
    { role: 'user', content: it.prompt },
    { role: 'assistant', content: it.chosen },
  ],
});

function pair(it: InstructionItem, k: number): PreferencePair {
  return {
    prompt: [{ role: 'user', content: it.prompt }],
    chosen: it.chosen,
    rejected: it.rejected[k % it.rejected.length],
  };
}

/** Items taken kind by kind in turn, so a short list still covers every kind. */
export function interleaveKinds(items: readonly InstructionItem[]): InstructionItem[] {
  const byKind = new Map<string, InstructionItem[]>();
  for (const it of items) byKind.set(it.kind, [...(byKind.get(it.kind) ?? []), it]);
  const lists = [...byKind.values()];
  const out: InstructionItem[] = [];
  for (let i = 0; out.length < items.length; i++) for (const l of lists) if (i < l.length) out.push(l[i]);
  return out;
}

export async function instructSplits(
  corpusDir: string,
  o: {
    sftItems: number;
    dpoItems: number;
    evalItems: number;
    heldOutItems: number;
    seed: number;
  },
): Promise<InstructSplits> {
  const docs = corpusDocsDir(corpusDir);
  const train = (await readInstructions(docs, 'train')).filter((it) => it.rejected.length > 0);
  const val = interleaveKinds((await readInstructions(docs, 'val')).filter((it) => it.rejected.length > 0));
  if (train.length < 2 || val.length < 2)
    throw new DemoError(
      `the instruction set in ${docs} has ${train.length} training and ${val.length} held-out items; rebuild the corpus with \`minicpm data corpus\``,
    );
  const order = permutation(train.length, o.seed + 17);
  const shuffled = Array.from(order, (i) => train[i]);
  // SFT and DPO see different items while the set lasts (a tiny corpus shares them)
  const nSft = Math.min(
    o.sftItems,
    Math.max(1, shuffled.length - Math.min(o.dpoItems, shuffled.length >> 1)),
  );
  const sft = shuffled.slice(0, nSft);
  const rest = shuffled.slice(nSft);
  const dpoPool = rest.length ? rest : shuffled;
  const dpo = Array.from({ length: Math.min(o.dpoItems, dpoPool.length) }, (_, i) => pair(dpoPool[i], i));
  const nEval = Math.min(o.evalItems, val.length - 1);
  const evalItems = val.slice(0, nEval);
  const heldOut = val.slice(nEval, nEval + Math.max(1, o.heldOutItems));
  return {
    sft: sft.map(conversation),
    dpo,
    evalItems,
    heldOutConversations: heldOut.map(conversation),
    heldOutPairs: heldOut.map((it, i) => pair(it, i)),
  };
}
