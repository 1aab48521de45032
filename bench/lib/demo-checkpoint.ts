/** Finding the model `npm start` trained, for benches that run on it when it is there. */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** npm start's latest checkpoint folder (runs/demo/<phase>/checkpoints/step-*), if any. */
export function latestDemo(): string | null {
  const base = path.join(root, 'runs', 'demo');
  let best: string | null = null;
  for (const phase of existsSync(base) ? readdirSync(base) : []) {
    const ck = path.join(base, phase, 'checkpoints');
    if (!existsSync(ck)) continue;
    for (const s of readdirSync(ck).filter((d) => d.startsWith('step-')))
      if (existsSync(path.join(ck, s, 'model.safetensors')) && (!best || s > path.basename(best)))
        best = path.join(ck, s);
  }
  return best;
}
