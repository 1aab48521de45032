/**
 * UltraEval's `construct_input` (SPEC §8): description + "\n\n" (when there is one, even after a
 * description that already ends in "\n\n"), then the shots — each its input followed by its output, joined
 * by "\n\n" and followed by "\n\n" — then the item's input.
 *
 * Shots: for every item in file order, one `random.Random` per subject draws k+1 items of the subject's
 * file, drops any equal to the item, and keeps the first k. UltraEval leaves that generator unseeded; here
 * it is Python's generator seeded with `seed`, so a given seed draws exactly what Python draws.
 */
import { PyRandom } from './py-random.js';
import { pyStrip } from './py-str.js';
import type { UeRecord, UeSubject } from './records.js';
import type { UeTask } from './tasks.js';

export interface UePrompt {
  record: UeRecord;
  prompt: string;
  targets: string[];
  /** Positions (in the subject's records) of the shots shown. */
  shots: number[];
}

/** Equality of UltraEval's data dicts (`x.data != doc`): every field but our file position. */
export function recordKey(r: UeRecord): string {
  return JSON.stringify([
    r.question,
    r.options,
    r.scores,
    r.answer,
    r.cot,
    r.answers,
    r.prompt,
    r.test,
    r.testList,
    r.code,
  ]);
}

export interface RenderOptions {
  seed: number;
  /** Shot count (default the task's). */
  shots?: number;
  /** Render the PPL input (ARC, HellaSwag) instead of the generation one. */
  ppl?: boolean;
}

export function renderSubject(task: UeTask, subject: UeSubject, o: RenderOptions): UePrompt[] {
  const k = o.shots ?? task.shots;
  const records = subject.records;
  const keys = records.map(recordKey);
  const rnd = new PyRandom(o.seed);
  const description = task.description(subject.subject);
  const head = description ? `${description}\n\n` : '';
  const shotText = new Map<number, string>();
  const shotOf = (j: number) => {
    let t = shotText.get(j);
    if (t === undefined) {
      const d = task.transform(records[j]);
      shotText.set(j, (t = d.input + d.output));
    }
    return t;
  };
  return records.map((record, i) => {
    let shots: number[] = [];
    let examples = '';
    if (k > 0) {
      // Python raises when k+1 exceeds the file; a short file gives all it has instead
      const drawn = rnd.sampleIndices(records.length, Math.min(k + 1, records.length));
      shots = drawn.filter((j) => keys[j] !== keys[i]).slice(0, k);
      examples = shots.map(shotOf).join('\n\n') + '\n\n';
    }
    const d = task.transform(record);
    if (o.ppl && task.ppl) {
      // the PPL transforms' reference is the correct option's text, stripped
      const targets = [pyStrip(record.options[record.scores.indexOf(1)])];
      return { record, prompt: head + examples + task.ppl.input(record), targets, shots };
    }
    return { record, prompt: head + examples + d.input, targets: d.targets, shots };
  });
}
