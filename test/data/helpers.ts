/** Small generated corpora for the data tests: temp folders, and texts that are distinct but realistic. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseMixture, type Mixture } from '../../src/data/mixture.js';
import { Rng } from '../../src/data/random.js';

const made: string[] = [];
// Temporary folders go when the test process does, so repeated runs do not fill /tmp.
process.on('exit', () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'minicpm-data-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

const WORDS =
  'the of and a to in is you that it he was for on are as with his they at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part'.split(
    ' ',
  );
const HAN =
  '天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳云腾致雨露结为霜金生丽水玉出昆冈剑号巨阙珠称夜光果珍李柰菜重芥姜海咸河淡鳞潜羽翔'.split(
    '',
  );

/** A pseudo-English paragraph of `n` words, different for each seed. */
export function englishText(seed: number, n = 120): string {
  const rng = new Rng(seed);
  const words = Array.from({ length: n }, () => rng.pick(WORDS));
  words[0] = words[0][0].toUpperCase() + words[0].slice(1);
  return words.join(' ') + '.';
}

/** A pseudo-classical poem of `lines` couplets of 5-character halves. */
export function chineseText(seed: number, lines = 4): string {
  const rng = new Rng(seed);
  const half = (): string => Array.from({ length: 5 }, () => rng.pick(HAN)).join('');
  return Array.from({ length: lines }, () => `${half()}，${half()}。`).join('\n');
}

/** Write `files` (relative path → content) under a new temp folder; returns the folder. */
export function writeTree(files: Record<string, string | Uint8Array>): string {
  const root = tempDir();
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  return root;
}

/** Two user sources: a folder of English text files and a JSONL file of poems. */
export function smallCorpus(): string {
  const files: Record<string, string> = {};
  for (let i = 0; i < 60; i++)
    files[`notes/n${String(i).padStart(2, '0')}.txt`] = englishText(i, 60 + (i % 7) * 20);
  files['poems.jsonl'] = Array.from({ length: 150 }, (_, i) =>
    JSON.stringify({ text: chineseText(500 + i) }),
  ).join('\n');
  return writeTree(files);
}

export function mixtureFor(root: string, name = 'test-stable', weights = { notes: 2, poems: 1 }): Mixture {
  return parseMixture(
    {
      name,
      phase: 'stable',
      tokens: 100_000,
      sources: {
        notes: { weight: weights.notes, type: 'text', path: 'notes', license: 'CC0-1.0' },
        poems: { weight: weights.poems, type: 'jsonl', path: 'poems.jsonl', bucket: 'zh-classical' },
      },
    },
    path.join(root, `${name}.json`),
  );
}
