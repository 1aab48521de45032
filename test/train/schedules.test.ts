/** Schedules as pure functions: exact values at chosen steps (SPEC.md §3). */
import { describe, expect, it } from 'vitest';
import { lrAt, parseStepSchedule } from '../../src/train/schedules.js';

describe('learning-rate schedules', () => {
  it('warmup is lr·(s+1)/W and WSD holds the peak until the decay', () => {
    const s = { kind: 'wsd', peak: 0.01, warmupSteps: 4, decayStart: 10, decay: 'exp', halfLife: 5 } as const;
    expect([0, 1, 3].map((i) => lrAt(s, i))).toEqual([0.0025, 0.005, 0.01]);
    expect(lrAt(s, 9)).toBe(0.01);
    expect(lrAt(s, 15)).toBeCloseTo(0.005, 15);
    expect(lrAt(s, 20)).toBeCloseTo(0.0025, 15);
  });
  it('linear, cosine and 1−√ decays reach their floors', () => {
    const base = { kind: 'wsd', peak: 1, warmupSteps: 0, decayStart: 0, decaySteps: 100 } as const;
    expect(lrAt({ ...base, decay: 'linear' }, 50)).toBeCloseTo(0.55, 15);
    expect(lrAt({ ...base, decay: 'linear' }, 100)).toBeCloseTo(0.1, 15);
    expect(lrAt({ ...base, decay: 'cosine' }, 50)).toBeCloseTo(0.5, 15);
    expect(lrAt({ ...base, decay: 'sqrt' }, 25)).toBeCloseTo(0.5, 15);
    expect(lrAt({ ...base, decay: 'sqrt' }, 200)).toBe(0);
  });
  it('cosine goes from η to 0.1η at T and stays there', () => {
    const s = { kind: 'cosine', peak: 1, warmupSteps: 10, totalSteps: 110 } as const;
    expect(lrAt(s, 10)).toBe(1);
    expect(lrAt(s, 60)).toBeCloseTo(0.55, 15);
    expect(lrAt(s, 110)).toBeCloseTo(0.1, 15);
    expect(lrAt(s, 500)).toBeCloseTo(0.1, 15);
  });
  it('a step schedule (batch size in micro-batches) is piecewise constant and validated', () => {
    const f = parseStepSchedule('0:1,200:2,500:4');
    expect([0, 199, 200, 499, 500, 10_000].map(f)).toEqual([1, 1, 2, 2, 4, 4]);
    expect(() => parseStepSchedule('5:1')).toThrow(/start at step 0/);
    expect(() => parseStepSchedule('0:0')).toThrow(/VALUE ≥ 1/);
  });
});
