/**
 * Benchmark dispatcher: `npm run bench -- <name> [args]` imports bench/<name>.ts and awaits its
 * default export with the remaining arguments. Benchmarks print a table and write
 * bench/results/<name>.json (see shared/docs/PERFORMANCE.md for the rules).
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.d.ts'))
  .map((f) => f.slice(0, -3))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.error(`${name ? `unknown benchmark "${name}". ` : ''}usage: npm run bench -- <name> [args]`);
  console.error(`benchmarks: ${available.join(', ') || '(none)'}`);
  process.exit(1);
}

const mod = (await import(`./${name}.ts`)) as { default?: (args: string[]) => unknown };
if (typeof mod.default !== 'function') {
  console.error(`bench/${name}.ts has no default export to run`);
  process.exit(1);
}
await mod.default(args);
