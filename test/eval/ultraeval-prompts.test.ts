/**
 * `--protocol ultraeval` prompts against the strings UltraEval's own code renders for the same items and
 * seeds (fixtures/ultraeval/prompts.json, see its README), and our Python-compatible generator against
 * CPython's `random.Random`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PyRandom } from '../../src/eval/ultraeval/py-random.js';
import { loadUeSubjects, type UeSubject } from '../../src/eval/ultraeval/records.js';
import { renderSubject } from '../../src/eval/ultraeval/prompts.js';
import { UE_TASKS } from '../../src/eval/ultraeval/tasks.js';

const FIX = path.join(import.meta.dirname, 'fixtures', 'ultraeval');
const BENCH = path.resolve(import.meta.dirname, '../../../shared/data/benchmarks');
const haveBench = fs.existsSync(BENCH);

interface PromptFixture {
  task: string;
  subject: string;
  index: number;
  seed: number;
  shots: number;
  prompt: string;
  targets: string[];
}

describe('PyRandom', () => {
  const ref = JSON.parse(fs.readFileSync(path.join(FIX, 'rng.json'), 'utf8')) as Record<
    string,
    { u32: number[]; samples: number[][] }
  >;
  const draws: [number, number][] = [
    [10, 6],
    [100, 6],
    [1319, 9],
    [30, 5],
    [4, 4],
    [200, 4],
    [85, 9],
    [86, 9],
  ];
  it.each(Object.keys(ref))('seed %s draws what CPython draws (both sample strategies)', (seed) => {
    const r = new PyRandom(Number(seed));
    expect(Array.from({ length: 5 }, () => r.getrandbits(32))).toEqual(ref[seed].u32);
    expect(draws.map(([n, k]) => r.sampleIndices(n, k))).toEqual(ref[seed].samples);
  });
});

describe.skipIf(!haveBench)('UltraEval prompts equal the strings its transform code renders', () => {
  const fixtures = JSON.parse(fs.readFileSync(path.join(FIX, 'prompts.json'), 'utf8')) as PromptFixture[];
  const subjects = new Map<string, UeSubject[]>();
  const subjectOf = (task: string, subject: string): UeSubject => {
    let list = subjects.get(task);
    if (!list) subjects.set(task, (list = loadUeSubjects(task, BENCH, { mathSet: 'full' })));
    const s = list.find((x) => x.subject === subject || (task.startsWith('arc') && x.subject === subject));
    if (!s) throw new Error(`no subject ${subject} in ${task}`);
    return s;
  };
  const groups = new Map<string, PromptFixture[]>();
  for (const f of fixtures) {
    const key = `${f.task} ${f.subject} seed=${f.seed} shots=${f.shots}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  it('covers every benchmark, with and without shots', () => {
    const tasks = new Set(fixtures.map((f) => f.task.replace(':ppl', '')));
    expect([...tasks].sort()).toEqual(Object.keys(UE_TASKS).sort());
    expect(fixtures.some((f) => f.shots > 0)).toBe(true);
  });
  it.each([...groups.keys()])('%s', (key) => {
    const group = groups.get(key)!;
    const { task: name, subject, seed, shots } = group[0];
    const [task, ppl] = name.split(':');
    const rendered = renderSubject(UE_TASKS[task], subjectOf(task, subject), {
      seed,
      shots,
      ppl: ppl === 'ppl',
    });
    for (const f of group) {
      const p = rendered.find((r) => r.record.index === f.index);
      expect(p, `item ${f.index}`).toBeDefined();
      expect(p!.prompt).toBe(f.prompt);
      expect(p!.targets).toEqual(f.targets);
    }
  });
});
