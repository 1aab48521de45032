/**
 * UltraEval's post-processors and metrics, transcribed, against what its Python code returns on a table
 * of awkward outputs (fixtures/ultraeval/post.json): `#### 72.`, `The answer is $18.00`, leading
 * newlines, `So the answer is A.`, unterminated \sqrt, code followed by the next problem, …
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mathPost } from '../../src/eval/ultraeval/math-answer.js';
import {
  bbhPost,
  exactMatch,
  gsm8kPost,
  humanevalPost,
  inMatch,
  mbppPost,
  prefixMatch,
  qaMatch,
} from '../../src/eval/ultraeval/postprocess.js';
import { mathReference } from '../../src/eval/ultraeval/tasks.js';

interface Row {
  post?: string;
  metric?: string;
  output: string;
  target?: string;
  targets?: string[];
  result: string | number | boolean;
}

const rows = JSON.parse(
  fs.readFileSync(path.join(import.meta.dirname, 'fixtures', 'ultraeval', 'post.json'), 'utf8'),
) as Row[];

const POSTS: Record<string, (t: string) => string | null> = {
  gsm8k: gsm8kPost,
  bbh: bbhPost,
  math: mathPost,
  humaneval: humanevalPost,
  mbpp: mbppPost,
  'math-reference': mathReference,
};

const QUESTION = 'What is the capital of France?';
const OPTIONS = ['Paris', 'London', 'Rome', 'Berlin'];

describe('UltraEval post-processors agree with the Python originals', () => {
  const posts = rows.filter((r) => r.post);
  it('has the awkward cases', () => {
    const gsm = new Map(posts.filter((r) => r.post === 'gsm8k').map((r) => [r.output, r.result]));
    expect(gsm.get('#### 72.')).toBe('72.');
    expect(gsm.get('The answer is $18.00')).toBe('The');
    expect(posts.find((r) => r.post === 'bbh' && r.output === 'So the answer is A.')?.result).toBe('A');
  });
  it.each(posts.map((r, i) => [i, r.post!, JSON.stringify(r.output), r] as const))(
    '#%i %s %s',
    (_i, post, _o, r) => {
      expect(POSTS[post](r.output)).toBe(r.result);
    },
  );
});

describe('UltraEval metrics agree with the Python originals', () => {
  const metrics = rows.filter((r) => r.metric);
  it.each(metrics.map((r, i) => [i, r.metric!, JSON.stringify(r.output), r] as const))(
    '#%i %s %s',
    (_i, metric, _o, r) => {
      const got =
        metric === 'qa'
          ? qaMatch(r.output, r.target!, QUESTION, OPTIONS, 'Paris')
          : metric === 'prefix'
            ? prefixMatch(r.output, r.target!)
            : metric === 'exact'
              ? exactMatch(r.output, r.targets!)
              : inMatch(r.output, r.targets!);
      expect(got).toBe(Boolean(r.result));
    },
  );
});
