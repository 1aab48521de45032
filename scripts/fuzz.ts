/**
 * `npm run fuzz [-- --cases N --seed S --timeout MS --only a,b --out DIR]`: mutated real files through
 * every reader (scripts/fuzz/). Exits 1 when any case ends in an untyped exception, a hang or a crash;
 * the findings are saved under --out (default fuzz-findings/) with the files that cause them.
 */
import { fuzz } from './fuzz/run.js';

const args = process.argv.slice(2);
const flag = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};

const reports = await fuzz({
  cases: Number(flag('cases', '1000')),
  seed: Number(flag('seed', '1')),
  timeoutMs: Number(flag('timeout', '10000')),
  targets: flag('only', '') ? flag('only', '').split(',') : undefined,
  outDir: flag('out', 'fuzz-findings'),
  log: (m) => console.log(m),
});
let findings = 0;
for (const r of reports) {
  for (const f of r.findings.slice(0, 5))
    console.log(`\n${f.target} #${f.index} ${f.kind}:\n${f.detail.split('\n').slice(0, 6).join('\n')}`);
  findings += r.findings.length;
  if (Object.keys(r.errors).length) console.log(`${r.target} typed errors: ${JSON.stringify(r.errors)}`);
}
console.log(`\n${findings} findings`);
process.exit(findings ? 1 : 0);
