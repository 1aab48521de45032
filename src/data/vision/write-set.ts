/**
 * Writes the synthetic image–text set to a folder: PNG images (encoded by sharp from our own pixels) and
 * JSONL records in the form `minicpm sft` reads ({"messages": […], "images": […]}, image paths relative
 * to the data file, an `<image>` marker in the user turn):
 *
 *   images/train-00000.png …, images/val-00000.png …
 *   captions.train.jsonl, captions.val.jsonl   stage 1: "Describe the image." → the caption
 *   qa.train.jsonl, qa.val.jsonl               stage 2: a question → its answer (with "kind")
 *   manifest.json                              seed, sizes, answer sets and answer frequencies
 *
 * Train and held-out images are different scenes (separate random streams of one seed).
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../random.js';
import { caption, questions, QUESTION_KINDS, randomScene, renderScene, type QuestionKind } from './scenes.js';

export interface VisionSetOptions {
  seed: number;
  /** Image side in pixels. */
  size: number;
  trainImages: number;
  valImages: number;
  /** Stage-2 questions drawn per image (without repetition, at most as many as it has). */
  questionsPerImage: number;
}

export const VISION_SET_DEFAULTS: VisionSetOptions = {
  seed: 0,
  size: 32,
  trainImages: 1200,
  valImages: 200,
  questionsPerImage: 3,
};

export interface VisionSetRecord {
  messages: { role: 'user' | 'assistant'; content: string }[];
  images: string[];
  kind?: QuestionKind;
}

export interface VisionSetManifest extends VisionSetOptions {
  files: Record<'captionsTrain' | 'captionsVal' | 'qaTrain' | 'qaVal', string>;
  answers: Record<QuestionKind, readonly string[]>;
  /** How often each answer is the right one among the training questions of its kind. */
  trainAnswerCounts: Record<string, Record<string, number>>;
}

export const CAPTION_PROMPT = 'Describe the image.';

const jsonl = (records: VisionSetRecord[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

/** Writes the set under `dir` (created; existing files of the same names are replaced). */
export async function writeVisionSet(dir: string, o: VisionSetOptions): Promise<VisionSetManifest> {
  if (!(o.size >= 8) || !(o.trainImages >= 1) || !(o.valImages >= 1) || !(o.questionsPerImage >= 1))
    throw new RangeError(
      'the synthetic set needs size ≥ 8 and at least one train image, one held-out image and one question each',
    );
  fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
  const captions: Record<'train' | 'val', VisionSetRecord[]> = { train: [], val: [] };
  const qa: Record<'train' | 'val', VisionSetRecord[]> = { train: [], val: [] };
  const counts: Record<string, Record<string, number>> = {};
  for (const split of ['train', 'val'] as const) {
    const rng = new Rng(o.seed * 2 + (split === 'train' ? 0 : 1));
    const n = split === 'train' ? o.trainImages : o.valImages;
    for (let i = 0; i < n; i++) {
      const scene = randomScene(rng, o.size);
      const img = renderScene(scene, o.size);
      const rel = `images/${split}-${String(i).padStart(5, '0')}.png`;
      const png = await sharp(Buffer.from(img.data), {
        raw: { width: img.width, height: img.height, channels: 3 },
      })
        .png()
        .toBuffer();
      fs.writeFileSync(path.join(dir, rel), png);
      captions[split].push({
        messages: [
          { role: 'user', content: `<image>\n${CAPTION_PROMPT}` },
          { role: 'assistant', content: caption(scene) },
        ],
        images: [rel],
      });
      const qs = rng.shuffle(questions(scene)).slice(0, o.questionsPerImage);
      for (const q of qs) {
        qa[split].push({
          messages: [
            { role: 'user', content: `<image>\n${q.question}` },
            { role: 'assistant', content: q.answer },
          ],
          images: [rel],
          kind: q.kind,
        });
        if (split === 'train') {
          const c = (counts[q.kind] ??= {});
          c[q.answer] = (c[q.answer] ?? 0) + 1;
        }
      }
    }
  }
  const files = {
    captionsTrain: 'captions.train.jsonl',
    captionsVal: 'captions.val.jsonl',
    qaTrain: 'qa.train.jsonl',
    qaVal: 'qa.val.jsonl',
  };
  fs.writeFileSync(path.join(dir, files.captionsTrain), jsonl(captions.train));
  fs.writeFileSync(path.join(dir, files.captionsVal), jsonl(captions.val));
  fs.writeFileSync(path.join(dir, files.qaTrain), jsonl(qa.train));
  fs.writeFileSync(path.join(dir, files.qaVal), jsonl(qa.val));
  const answers: Record<QuestionKind, readonly string[]> = {
    count: QUESTION_KINDS.count.answers,
    colour: QUESTION_KINDS.colour.answers,
    shape: QUESTION_KINDS.shape.answers,
    position: QUESTION_KINDS.position.answers,
  };
  const manifest: VisionSetManifest = { ...o, files, answers, trainAnswerCounts: counts };
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1));
  return manifest;
}
