/** SFT and DPO data paths and objectives on a tiny model: masks, batches, cursors, log-probs, learning. */
import { describe, expect, it } from 'vitest';
import {
  chatFormatFor,
  renderAnswer,
  renderConversation,
  renderPrompt,
} from '../../src/align/chat-format.js';
import { DpoBatches, dpoExamples, dpoObjective, referenceLogProbs } from '../../src/align/dpo.js';
import { clipExample, EpochOrder, padBatch } from '../../src/align/examples.js';
import { sequenceLogProbs } from '../../src/align/logprobs.js';
import { SftBatches, sftExamples } from '../../src/align/sft.js';
import { useBackend } from '../../src/backends/index.js';
import { widthMultiplier } from '../../src/models/config.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { logSoftmax, noGrad, Rng, scope, Tensor } from '../../src/tensor/index.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { trainedModelProto } from '../../src/tokenizer/trainer-output.js';
import { AdamW, muPGroups } from '../../src/train/optimizer.js';
import { runTraining } from '../../src/train/trainer.js';
import { TRAIN_TEXT } from '../tokenizer/helpers.js';

useBackend('auto');
const tok = SentencePieceTokenizer.fromProto(
  trainedModelProto(await trainBpe(TRAIN_TEXT, { vocabSize: 400 })),
);
const minicpm = chatFormatFor('auto', 'minicpm', undefined);
const user = (content: string) => ({ role: 'user' as const, content });
const ai = (content: string) => ({ role: 'assistant' as const, content });
const conversations = [
  { messages: [user('What is the colour of the sky?'), ai('The sky is blue.')] },
  { messages: [user('Name a fruit.'), ai('An apple.'), user('Another one?'), ai('A pear.')] },
  { messages: [user('Say hello.'), ai('Hello there!')] },
  { messages: [user('Count to three.'), ai('One, two, three.')] },
];

describe('SFT examples and batches', () => {
  it('supervise exactly the assistant tokens and the closing EOS', () => {
    const { ids, mask } = renderConversation(tok, minicpm, conversations[1].messages);
    const supervised = ids.filter((_, i) => mask[i] === 1);
    expect(supervised).toEqual([...tok.encode('An apple.'), ...tok.encode('A pear.'), tok.eosId]);
    const { examples } = sftExamples(tok, minicpm, conversations, 512);
    const b = padBatch(examples, tok.eosId);
    // every target is the next id where that id is supervised, −100 elsewhere and in the padding
    examples.forEach((e, r) => {
      for (let t = 0; t < b.seqLen; t++) {
        const want = t + 1 < e.ids.length && e.mask[t + 1] ? e.ids[t + 1] : -100;
        expect(b.targets[r * b.seqLen + t]).toBe(want);
      }
    });
  });

  it('clip long conversations and drop those left without an answer', () => {
    const full = sftExamples(tok, minicpm, conversations, 4096).examples;
    const limit = Math.max(...full.map((e) => e.ids.length)) - 2; // the longest conversation gets cut
    const long = { messages: [user('word '.repeat(80)), ai('short answer')] };
    const r = sftExamples(tok, minicpm, [...conversations, long], limit);
    expect(r.dropped).toBe(1);
    expect(r.clipped).toBeGreaterThanOrEqual(1);
    expect(r.examples.every((e) => e.ids.length <= limit + 1)).toBe(true);
    expect(clipExample([1, 2, 3], [0, 0, 1], 1)).toBeNull();
  });

  it('visit every example once per epoch, in a seeded order a cursor can resume', () => {
    const order = new EpochOrder(7, 3);
    const epoch0 = Array.from({ length: 7 }, (_, k) => order.at(k));
    expect([...epoch0].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const epoch1 = Array.from({ length: 7 }, (_, k) => order.at(7 + k));
    expect(epoch1).not.toEqual(epoch0);
    expect(new EpochOrder(7, 3).at(9)).toBe(epoch1[2]);
    const { examples } = sftExamples(tok, minicpm, conversations, 512);
    const a = new SftBatches(examples, 3, 5, tok.eosId);
    a.next();
    const resumed = new SftBatches(examples, 3, 5, tok.eosId);
    resumed.setState(JSON.parse(JSON.stringify(a.state())));
    expect(resumed.next()).toEqual(a.next());
    expect(() => resumed.setState({ cursor: 1 })).toThrow(/not an SFT cursor/);
  });
});

describe('DPO on a tiny model', () => {
  const model = () => MiniCPM.init(presetConfig('tiny', tok.vocabSize), new Rng(0));
  const prefs = [
    { prompt: [user('Is the sky blue?')], chosen: 'Yes, it is blue.', rejected: 'No idea, go away.' },
    { prompt: [user('Say hello.')], chosen: 'Hello there!', rejected: 'Whatever.' },
    {
      prompt: [user('Name a fruit.'), ai('An apple.'), user('Another?')],
      chosen: 'A pear.',
      rejected: 'A rock.',
    },
  ];

  it('renders answers masked after the prompt only, earlier assistant turns excluded', () => {
    const prompt = prefs[2].prompt;
    const { ids, mask } = renderAnswer(tok, minicpm, prompt, 'A pear.');
    const head = renderPrompt(tok, minicpm, prompt);
    expect(ids.slice(0, head.length)).toEqual(head);
    expect(ids.filter((_, i) => mask[i] === 1)).toEqual([...tok.encode('A pear.'), tok.eosId]);
  });

  it('sums log-probs of the supervised tokens exactly as log-softmax does', () => {
    const m = model();
    const { pairs } = dpoExamples(tok, minicpm, prefs, 512);
    const b = padBatch([pairs[0].chosen, pairs[1].rejected], tok.eosId);
    const got = noGrad(() => scope(() => sequenceLogProbs(m, b).sum.toArray()));
    const want = noGrad(() =>
      scope(() => {
        const lp = logSoftmax(m.forward(Tensor.from(b.inputs, [b.batch, b.seqLen], 'i32'))).toArray();
        const V = m.config.vocabSize;
        return [0, 1].map((r) => {
          let s = 0;
          for (let t = 0; t < b.seqLen; t++) {
            const y = b.targets[r * b.seqLen + t];
            if (y !== -100) s += lp[(r * b.seqLen + t) * V + y];
          }
          return s;
        });
      }),
    );
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i], 3));
  });

  it('starts at ln 2 with zero rewards, then learns to rank the chosen answers first', async () => {
    const m = model();
    const { pairs } = dpoExamples(tok, minicpm, prefs, 512);
    const ref = referenceLogProbs(m, pairs, 2, tok.eosId);
    const source = new DpoBatches(pairs, ref, 3, 0, tok.eosId);
    const opt = new AdamW(muPGroups(m.params, widthMultiplier(m.config), 0), {
      betas: [0.9, 0.95],
      eps: 1e-8,
      weightDecay: 0,
      clip: 1,
    });
    const { metrics } = await runTraining(m, opt, source, {
      steps: 12,
      schedule: { kind: 'constant', peak: 3e-3, warmupSteps: 0 },
      gradAccum: 1,
      runDir: null,
      saveEvery: 0,
      keepLast: 1,
      evalEvery: 0,
      spikeFactor: 0,
      config: {},
      objective: dpoObjective({ beta: 0.1, loss: 'sigmoid' }),
    });
    expect(metrics[0].loss).toBeCloseTo(Math.LN2, 5);
    expect(metrics[0].stats?.reward_margin).toBeCloseTo(0, 4);
    const last = metrics[metrics.length - 1];
    expect(last.loss).toBeLessThan(0.5);
    expect(last.stats?.reward_accuracy).toBe(1);
    expect(last.stats!.reward_chosen).toBeGreaterThan(last.stats!.reward_rejected);
  });

  it('pairs keep their reference log-probs through shuffling and resume', () => {
    const { pairs } = dpoExamples(tok, minicpm, prefs, 512);
    const ref = { chosen: Float64Array.from([-1, -2, -3]), rejected: Float64Array.from([-4, -5, -6]) };
    const a = new DpoBatches(pairs, ref, 2, 9, tok.eosId);
    const first = a.next();
    const order = new EpochOrder(3, 9);
    expect(Array.from(first.extra!.refChosen)).toEqual([order.at(0), order.at(1)].map((i) => ref.chosen[i]));
    const b = new DpoBatches(pairs, ref, 2, 9, tok.eosId);
    b.setState(a.state());
    expect(b.next()).toEqual(a.next());
    expect(
      () => new DpoBatches(pairs, { chosen: new Float64Array(2), rejected: new Float64Array(2) }, 2, 0, 0),
    ).toThrow(/cover 2 pairs, the data has 3/);
  });
});
