/**
 * Peak RSS of loading a checkpoint, measured in a fresh child process (`infer --rss-child DIR`): the
 * bf16 safetensors checkpoint of the bench model, and the W4 AutoGPTQ folder as generate/serve load it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend } from '../../src/backends/index.js';
import { castFloat } from '../../src/io/dtypes.js';
import { writeJson } from '../../src/io/hf-folder.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { configToHF } from '../../src/models/config.js';
import { loadModel } from '../../src/models/load.js';
import type { MiniCPM } from '../../src/models/minicpm.js';
import { tensorToRecord } from '../../src/models/weights.js';
import { loadAnyModel } from '../../src/quant/index.js';

const benchDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** Bytes of every file in a folder (a sharded checkpoint). */
export function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
}

/** The child's side: load `dir`, print one JSON line with the peak RSS. */
export async function rssChild(dir: string, quantized: boolean): Promise<void> {
  useBackend('auto');
  const before = process.resourceUsage().maxRSS;
  const vmRss = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  const t0 = performance.now();
  // the W4 folder as generate/serve load it (layers on the int4 kernels, the BF16 embedding kept as is)
  const m = await (quantized ? loadAnyModel : loadModel)(dir, { weightDtype: 'bf16' });
  const s = (performance.now() - t0) / 1000;
  const r = process.resourceUsage().maxRSS; // KiB
  // Linux keeps ru_maxrss across fork+exec, so in a child of a big process maxRSS starts at the parent's
  // size; VmHWM (/proc/self/status) belongs to this process's own address space and is the real peak.
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  console.log(
    JSON.stringify({
      peakRssMiB: hwm ? Number(hwm) / 1024 : null,
      maxRssMiB: r / 1024,
      maxRssBeforeLoadMiB: before / 1024,
      rssBeforeLoadMiB: vmRss ? Number(vmRss) / 1024 : null,
      loadS: s,
      params: m.params.size,
    }),
  );
}

/**
 * The parent's side: the child's peak RSS loading `dir` (`bytes` on disk), as ratios to those bytes;
 * `f32Bytes` (the model's f32 matrix bytes) is reported alongside.
 */
export function rssOf(
  dir: string,
  bytes: number,
  quantized: boolean,
  f32Bytes: number,
): Record<string, unknown> {
  const child = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(benchDir, 'run.ts'),
      'infer',
      '--rss-child',
      dir,
      ...(quantized ? ['--quantized'] : []),
    ],
    { encoding: 'utf8' },
  );
  const line = child.stdout.trim().split('\n').pop() ?? '';
  try {
    const r = JSON.parse(line) as { peakRssMiB: number | null; rssBeforeLoadMiB: number | null };
    return {
      checkpoint_gb: bytes / 1e9,
      f32_params_gb: f32Bytes / 1e9,
      ...r,
      peak_over_checkpoint: r.peakRssMiB !== null ? (r.peakRssMiB * 2 ** 20) / bytes : null,
      // the load's own peak: without the runtime's resident size before it (~90 MiB of Node)
      load_peak_over_checkpoint:
        r.peakRssMiB !== null && r.rssBeforeLoadMiB !== null
          ? ((r.peakRssMiB - r.rssBeforeLoadMiB) * 2 ** 20) / bytes
          : null,
    };
  } catch {
    return { error: `child failed (${child.status}): ${child.stderr.slice(-500)}` };
  }
}

/** Writes `model` as a bf16 safetensors checkpoint under `dir`; returns the safetensors file's bytes. */
export async function writeBf16Checkpoint(model: MiniCPM, dir: string): Promise<number> {
  mkdirSync(dir);
  await writeJson(path.join(dir, 'config.json'), { ...configToHF(model.config), torch_dtype: 'bfloat16' });
  await writeSafetensors(
    path.join(dir, 'model.safetensors'),
    [...model.params].map(([name, t]) => ({
      name,
      dtype: 'BF16' as const,
      shape: [...t.shape],
      load: () => castFloat(tensorToRecord(name, t), 'BF16').data,
    })),
  );
  return statSync(path.join(dir, 'model.safetensors')).size;
}
