/**
 * `npm run bench -- lora-demo [--model DIR] [--train N] [--held N] [--steps N] [--out DIR]`: LoRA SFT of
 * the demo model on the built-in synthetic instruction set (definitions, next lines of poems, authors,
 * arithmetic), with the answer loss on held-out items (the `val` split, never trained on) before and
 * after. The model defaults to the demo run's latest checkpoint (runs/demo: decay, else stable); the
 * corpus must be built (`minicpm data corpus`, which `npm start` does). Writes bench/results/lora-demo.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chatFormatFor, heldOutBatches, readConversations, sftExamples } from '../src/align/index.js';
import { loadAdapter } from '../src/align/lora.js';
import { useBackend } from '../src/backends/index.js';
import { sftCommand } from '../src/cli/align-commands.js';
import { corpusDocsDir } from '../src/data/corpus/build-corpus.js';
import { readInstructions } from '../src/data/instruct/read.js';
import { defaultCorpusDir } from '../src/data/paths.js';
import { loadModel } from '../src/models/load.js';
import { loadTokenizer } from '../src/tokenizer/index.js';
import { resolveCheckpoint } from '../src/train/checkpoint.js';
import { validate, ValidationSet } from '../src/train/validation.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const LORA = 'r=16,alpha=32,dropout=0.05,targets=q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj';
const SEQ = 128;

function opt(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** The demo's final model: the decay phase's latest checkpoint, else the stable phase's. */
function demoModel(): string {
  for (const phase of ['decay', 'stable']) {
    const run = path.join('runs', 'demo', phase);
    if (fs.existsSync(path.join(run, 'checkpoints', 'latest.json'))) return resolveCheckpoint(run);
  }
  throw new Error('no demo model under runs/demo: run `npm start` first, or pass --model DIR');
}

/** Items as one-turn conversations, spread across the four kinds. */
async function conversations(split: 'train' | 'val', n: number, file: string): Promise<string> {
  const items = await readInstructions(corpusDocsDir(defaultCorpusDir()), split);
  const byKind = new Map<string, typeof items>();
  for (const it of items) byKind.set(it.kind, [...(byKind.get(it.kind) ?? []), it]);
  const picked: typeof items = [];
  for (let i = 0; picked.length < n && i < items.length; i++)
    for (const list of byKind.values()) if (i < list.length && picked.length < n) picked.push(list[i]);
  const lines = picked.map((it) =>
    JSON.stringify({
      messages: [
        { role: 'user', content: it.prompt },
        { role: 'assistant', content: it.chosen },
      ],
    }),
  );
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

export default async function main(args: string[]): Promise<void> {
  useBackend('auto');
  const model = opt(args, '--model') ?? demoModel();
  const out = opt(args, '--out') ?? path.join('runs', 'lora-demo');
  const steps = Number(opt(args, '--steps') ?? 60);
  fs.mkdirSync(out, { recursive: true });
  const train = await conversations(
    'train',
    Number(opt(args, '--train') ?? 480),
    path.join(out, 'train.jsonl'),
  );
  const held = await conversations('val', Number(opt(args, '--held') ?? 96), path.join(out, 'held.jsonl'));

  const loaded = loadTokenizer(model);
  const tok = loaded.tokenizer;
  const base = await loadModel(model);
  const format = chatFormatFor('auto', base.config.modelType, loaded.chatTemplate);
  const examples = sftExamples(tok, format, readConversations(held), SEQ).examples;
  const set = new ValidationSet(heldOutBatches(examples, 8, tok.eosId >= 0 ? tok.eosId : 0));
  const before = validate(base, set);

  const run = path.join(out, 'run');
  fs.rmSync(run, { recursive: true, force: true });
  const t0 = performance.now();
  await sftCommand({ model, data: train, out: run, lora: LORA, steps, lr: 2e-3, batchSize: 8, seqLen: SEQ });
  const seconds = (performance.now() - t0) / 1000;
  const adapted = await loadModel(model);
  loadAdapter(resolveCheckpoint(run), adapted);
  const after = validate(adapted, set);

  const row = {
    name: `LoRA SFT of the demo model on the synthetic instruction set (${LORA.split(',')[0]}, ${steps} steps)`,
    model,
    held_out_items: examples.length,
    held_out_answer_tokens: set.tokens,
    answer_loss_before: before.loss,
    answer_loss_before_se: before.stderr,
    answer_loss_after: after.loss,
    answer_loss_after_se: after.stderr,
    train_seconds: seconds,
    adapter: resolveCheckpoint(run),
  };
  console.table([row]);
  fs.mkdirSync(path.join(here, 'results'), { recursive: true });
  fs.writeFileSync(
    path.join(here, 'results', 'lora-demo.json'),
    JSON.stringify({ rows: [row] }, null, 1) + '\n',
  );
}
