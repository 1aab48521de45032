/**
 * The synthetic shapes set: deterministic from its seed (same PNG bytes), PNGs that decode back to the
 * rasterised pixels, pixels that show what the texts say (colour under each object's centre, empty cells
 * in the background grey), answers from the closed sets, and held-out scenes apart from training scenes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/data/random.js';
import {
  caption,
  CELLS,
  COUNT_WORDS,
  QUESTION_KINDS,
  questions,
  randomScene,
  renderScene,
} from '../../src/data/vision/scenes.js';
import { writeVisionSet, type VisionSetRecord } from '../../src/data/vision/write-set.js';
import { decodeImage } from '../../src/image/index.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-vision-set-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const opts = { seed: 7, size: 32, trainImages: 12, valImages: 4, questionsPerImage: 3 };
const readJsonl = (f: string) =>
  fs
    .readFileSync(f, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as VisionSetRecord);

describe('synthetic shapes set', () => {
  it('is the same, byte for byte, from the same seed, and differs with another seed', async () => {
    const a = await writeVisionSet(path.join(root, 'a'), opts);
    await writeVisionSet(path.join(root, 'b'), opts);
    await writeVisionSet(path.join(root, 'c'), { ...opts, seed: 8 });
    for (const f of [...Object.values(a.files), 'images/train-00003.png', 'images/val-00001.png'])
      expect(
        fs.readFileSync(path.join(root, 'a', f)).equals(fs.readFileSync(path.join(root, 'b', f))),
        f,
      ).toBe(true);
    expect(
      fs
        .readFileSync(path.join(root, 'a', a.files.qaTrain))
        .equals(fs.readFileSync(path.join(root, 'c', a.files.qaTrain))),
    ).toBe(false);
    expect(readJsonl(path.join(root, 'a', a.files.captionsTrain))).toHaveLength(12);
    expect(readJsonl(path.join(root, 'a', a.files.qaVal))).toHaveLength(12);
  });

  it('writes PNGs that decode to the rendered pixels', async () => {
    const rng = new Rng(opts.seed * 2); // the training stream of seed 7
    const img = renderScene(randomScene(rng, 32), 32);
    const png = fs.readFileSync(path.join(root, 'a', 'images', 'train-00000.png'));
    const back = await decodeImage(png);
    expect([back.width, back.height]).toEqual([32, 32]);
    expect(Buffer.from(back.data).equals(Buffer.from(img.data))).toBe(true);
  });

  it('draws what the texts say', () => {
    const rng = new Rng(1);
    const colours: Record<string, number[]> = {
      red: [214, 39, 40],
      green: [44, 160, 44],
      blue: [31, 90, 220],
      yellow: [235, 200, 30],
    };
    for (let n = 0; n < 200; n++) {
      const scene = randomScene(rng, 32);
      const img = renderScene(scene, 32);
      const px = (x: number, y: number) =>
        Array.from(img.data.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3));
      for (const o of scene.objects) {
        // every shape covers its centre pixel
        const cx = Math.floor((o.cell % 2) * 16 + 8 + o.dx);
        const cy = Math.floor(Math.floor(o.cell / 2) * 16 + 8 + o.dy);
        expect(px(cx, cy)).toEqual(colours[o.colour]);
      }
      for (let cell = 0; cell < 4; cell++) {
        if (scene.objects.some((o) => o.cell === cell)) continue;
        const x0 = (cell % 2) * 16;
        const y0 = Math.floor(cell / 2) * 16;
        for (let y = y0; y < y0 + 16; y++)
          for (let x = x0; x < x0 + 16; x++)
            expect(px(x, y)).toEqual([scene.background, scene.background, scene.background]);
      }
      const qs = questions(scene);
      expect(qs[0]).toEqual({
        kind: 'count',
        question: 'How many shapes are there?',
        answer: COUNT_WORDS[scene.objects.length],
      });
      for (const q of qs) expect(QUESTION_KINDS[q.kind].answers as readonly string[]).toContain(q.answer);
      for (const o of scene.objects) {
        expect(caption(scene)).toContain(`a ${o.colour} ${o.shape} at the ${CELLS[o.cell]}`);
        expect(qs).toContainEqual({
          kind: 'shape',
          question: `What shape is at the ${CELLS[o.cell]}?`,
          answer: o.shape,
        });
      }
    }
  });

  it('keeps held-out scenes apart from training scenes', async () => {
    const dir = path.join(root, 'split');
    await writeVisionSet(dir, { ...opts, trainImages: 60, valImages: 20 });
    const hash = (f: string) => fs.readFileSync(path.join(dir, 'images', f)).toString('base64');
    const train = new Set(
      Array.from({ length: 60 }, (_, i) => hash(`train-${String(i).padStart(5, '0')}.png`)),
    );
    for (let i = 0; i < 20; i++) expect(train.has(hash(`val-${String(i).padStart(5, '0')}.png`))).toBe(false);
  });
});
