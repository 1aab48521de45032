/** Reading the synthetic instruction set back (for SFT and DPO) from the built corpus. */
import { CorpusError } from '../errors.js';
import { readDocs, readManifest } from '../manifest.js';
import type { Split } from '../split.js';
import { INSTRUCT_SOURCE } from '../corpus/catalog.js';
import type { InstructionItem } from './synth.js';

/** Items of the `instruct` source's split, with prompt, correct answer and wrong answers. */
export async function readInstructions(docsDir: string, split: Split): Promise<InstructionItem[]> {
  const m = readManifest(docsDir);
  const entry = m?.sources[INSTRUCT_SOURCE];
  if (!entry)
    throw new CorpusError(`${docsDir} has no instruction set; build the corpus with \`minicpm data corpus\``);
  const out: InstructionItem[] = [];
  for await (const doc of readDocs(docsDir, entry, split))
    out.push({ id: doc.id, ...(doc.meta as Omit<InstructionItem, 'id'>) });
  return out;
}
