/**
 * `minicpm logits` / `minicpm generate` with --image on the tiny MiniCPM-V fixture: the fixture image
 * written as a PNG goes through decoding, preprocessing, the tower and the splice and must give the
 * reference logits; span and image-count mistakes get typed errors.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { generateCommand, logitsCommand } from '../../src/cli/model-commands.js';
import { VisionCliError, visionPromptIds } from '../../src/cli/vision-inference.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';
import { typedView } from '../../src/io/dtypes.js';
import { openSafetensorsSync } from '../../src/io/safetensors.js';
import { loadMiniCPMV } from '../../src/models/minicpmv-load.js';
import { ImageSpanError } from '../../src/models/minicpmv-splice.js';
import { generateAll } from '../../src/engine/generate.js';
import { noGrad, Tensor } from '../../src/tensor/index.js';
import { rgbImage } from '../../src/image/index.js';

useBackend('auto');
const DIR = path.resolve(import.meta.dirname, '../../../shared/fixtures/minicpmv/tiny');
const have = fs.existsSync(DIR);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpmv-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!have)('MiniCPM-V on the command line', () => {
  const fx = have ? openSafetensorsSync(path.join(DIR, 'fixture.safetensors')) : null;
  const ids = (which: string) =>
    Array.from(typedView(fx!.readSync(`${which}.input_ids`)) as BigInt64Array, Number);
  async function png(which: string): Promise<string> {
    const rec = fx!.readSync(`${which}.image_u8`);
    const [h, w] = rec.shape;
    const file = path.join(tmp, `${which}.png`);
    await sharp(Buffer.from(rec.data), { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toFile(file);
    return file;
  }

  it('logits --image reproduces the reference logits for a batch of both images', async () => {
    const input = path.join(tmp, 'in.json');
    fs.writeFileSync(input, JSON.stringify({ inputs: [ids('up'), ids('down')] }));
    const output = path.join(tmp, 'out.safetensors');
    await logitsCommand({ model: DIR, input, output, image: [await png('up'), await png('down')] } as never);
    const rec = openSafetensorsSync(output).readSync('logits');
    const got = typedView(rec) as Float32Array;
    const V = rec.shape[2];
    const T = rec.shape[1];
    for (const [b, which] of ['up', 'down'].entries()) {
      const want = typedView(fx!.readSync(`${which}.logits`)) as Float64Array;
      let m = 0;
      let s = 0;
      for (let i = 0; i < want.length; i++) {
        m = Math.max(m, Math.abs(got[b * T * V + i] - want[i]));
        s = Math.max(s, Math.abs(want[i]));
      }
      expect(m / s).toBeLessThan(1e-5);
    }
  });

  it('refuses more or fewer images than spans, and a span of the wrong length', async () => {
    const input = path.join(tmp, 'bad.json');
    const up = await png('up');
    fs.writeFileSync(input, JSON.stringify({ inputs: [ids('up')] }));
    const output = path.join(tmp, 'bad.safetensors');
    await expect(logitsCommand({ model: DIR, input, output, image: [up, up] } as never)).rejects.toThrow(
      /1 <image>…<\/image> span\(s\) but 2 --image/,
    );
    await expect(logitsCommand({ model: DIR, input, output, image: [] } as never)).rejects.toThrow(
      ImageSpanError,
    );
    const short = ids('up');
    short.splice(short.indexOf(101) + 1, 1);
    fs.writeFileSync(input, JSON.stringify({ inputs: [short] }));
    await expect(logitsCommand({ model: DIR, input, output, image: [up] } as never)).rejects.toThrow(
      /holds 3 ids but the model takes exactly 4/,
    );
    await expect(
      logitsCommand({ model: DIR, input, output, image: [path.join(tmp, 'missing.png')] } as never),
    ).rejects.toThrow(VisionCliError);
  });

  it('generate --image --prompt-ids equals greedy generation through the library', async () => {
    const up = await png('up');
    const prompt = ids('up');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await generateCommand({
        model: DIR,
        promptIds: JSON.stringify(prompt),
        image: [up],
        maxNewTokens: '6',
        greedy: true,
        json: true,
        kvCache: 'f32',
      } as never);
      const printed = JSON.parse(String(log.mock.calls.at(-1)?.[0])) as { ids: number[] };
      const model = await loadMiniCPMV(DIR);
      const rec = fx!.readSync('up.image_u8');
      const tokens = noGrad(() =>
        model.encodeImage(rgbImage(rec.shape[1], rec.shape[0], new Uint8Array(rec.data))),
      );
      const [want] = await generateAll(model.llm.withImages([[tokens]]), [prompt], {
        maxNewTokens: 6,
        greedy: true,
      });
      expect(printed.ids).toEqual(want);
      // KV-cached decoding after an image prefill equals recomputing the whole spliced sequence.
      const ctx = [...prompt];
      for (let step = 0; step < want.length; step++) {
        const logits = noGrad(() =>
          model.forward(Tensor.from(Int32Array.from(ctx), [1, ctx.length], 'i32'), [[tokens]]),
        ).toArray();
        const V = model.config.llm.vocabSize;
        const last = logits.slice((ctx.length - 1) * V, ctx.length * V);
        const arg = last.indexOf(Math.max(...last));
        expect(arg).toBe(want[step]);
        ctx.push(arg);
      }
    } finally {
      log.mockRestore();
    }
  });
});

describe('the MiniCPM-V 1.0 chat prompt', () => {
  const TOK = path.resolve(
    import.meta.dirname,
    '../../../shared/fixtures/tokenizer/minicpm-2b/tokenizer.model',
  );
  it.skipIf(!fs.existsSync(TOK))('is <s><用户>, one span per image, then \\n + question + <AI>', () => {
    const { tokenizer } = loadTokenizer(TOK);
    const ids = visionPromptIds(tokenizer, 'What is it?', 2, 3);
    const user = tokenizer.encode('<用户>');
    expect(ids.slice(0, 1 + user.length)).toEqual([tokenizer.bosId, ...user]);
    const spans = ids.slice(1 + user.length, 1 + user.length + 10);
    expect(spans).toEqual([101, 0, 0, 0, 102, 101, 0, 0, 0, 102]);
    expect(ids.slice(1 + user.length + 10)).toEqual(tokenizer.encode('\nWhat is it?<AI>'));
    expect(tokenizer.decode(ids.slice(1 + user.length + 10))).toBe('\nWhat is it?<AI>');
  });
});
