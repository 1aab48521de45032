/**
 * A small seeded sample of `npm run fuzz`: mutated real files through every reader, each case ending in
 * success or one of our typed errors (no untyped exception, hang or crash). The full run is
 * `npm run fuzz` (1,000 cases per format).
 */
import { describe, expect, it } from 'vitest';
import { fuzz } from '../scripts/fuzz/run.js';
import { TARGETS } from '../scripts/fuzz/targets.js';

describe('fuzzed readers (seeded sample)', () => {
  it.each(TARGETS.map((t) => t.name))(
    '%s: every mutated case is read or refused with a typed error',
    async (name) => {
      const cases = 12;
      const [report] = await fuzz({ cases, seed: 7, timeoutMs: 20_000, targets: [name] });
      // no seed files means nothing was fuzzed: that is a failure here, not a pass
      expect(report.skipped).toBeUndefined();
      expect(report.cases).toBe(cases);
      expect(report.findings.map((f) => `#${f.index} ${f.kind}: ${f.detail.split('\n')[0]}`)).toEqual([]);
      expect(report.ok + report.typed).toBe(cases);
    },
    120_000,
  );
});
