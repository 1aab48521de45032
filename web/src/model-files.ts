/**
 * A model folder's files in the browser: fetched from a base URL with byte progress and kept in the
 * Cache API (a reload reads them from disk, not the network), or taken from files the user picked.
 * Weights are `model.safetensors` or `model.safetensors.index.json` plus its shards, each its own Blob
 * (f32/bf16, or GPTQ W4/W8 with their quantize_config.json); or the source is one GGUF file.
 */
import type { LoadPhase, ModelSource } from './messages.js';

export type Progress = (phase: LoadPhase, file: string, loaded: number, total: number) => void;

export class ModelFilesError extends Error {
  override name = 'ModelFilesError';
}

const CACHE = 'minicpm-models-v1';

/** The folder's files by name; `get` returns null for a missing optional file. */
export interface ModelFiles {
  name: string;
  get(file: string, optional: boolean): Promise<Blob | null>;
}

async function download(url: string, file: string, progress: Progress): Promise<Blob | null> {
  const r = await fetch(url);
  if (r.status === 404) return null;
  if (!r.ok || !r.body) throw new ModelFilesError(`fetching ${url} failed with HTTP ${r.status}`);
  const total = Number(r.headers.get('content-length')) || 0;
  const reader = r.body.getReader();
  const parts: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.byteLength;
    progress('download', file, loaded, Math.max(total, loaded));
  }
  if (total && loaded !== total)
    throw new ModelFilesError(`${url}: got ${loaded} of ${total} bytes (connection cut?)`);
  return new Blob(parts as BlobPart[]);
}

export function urlFiles(base: string, progress: Progress): ModelFiles {
  const root = base.endsWith('/') ? base : `${base}/`;
  return {
    name: root,
    async get(file, optional) {
      const url = new URL(file, root).href;
      const cache = typeof caches === 'undefined' ? null : await caches.open(CACHE);
      const hit = await cache?.match(url);
      if (hit) {
        const blob = await hit.blob();
        progress('cache', file, blob.size, blob.size);
        return blob;
      }
      const blob = await download(url, file, progress);
      if (!blob) {
        if (optional) return null;
        throw new ModelFilesError(`${url} was not found: is ${root} a MiniCPM model folder?`);
      }
      // best effort: over the origin's storage quota the model still loads, it is just not kept
      await cache
        ?.put(url, new Response(blob, { headers: { 'content-length': String(blob.size) } }))
        .catch((e: unknown) => {
          console.warn(`not caching ${file}: ${e instanceof Error ? e.message : String(e)}`);
        });
      return blob;
    },
  };
}

export function pickedFiles(files: File[]): ModelFiles {
  const byName = new Map(files.map((f) => [f.name, f]));
  return {
    name: files[0]?.webkitRelativePath.split('/')[0] || 'local files',
    get(file, optional) {
      const f = byName.get(file) ?? null;
      if (!f && !optional)
        throw new ModelFilesError(`the picked files have no ${file}: pick the whole model folder`);
      return Promise.resolve(f);
    },
  };
}

export function filesOf(source: ModelSource, progress: Progress): ModelFiles {
  return source.kind === 'url' ? urlFiles(source.base, progress) : pickedFiles(source.files);
}

/** The safetensors files of the folder: the index's shards, or the single file. */
export async function weightBlobs(files: ModelFiles): Promise<Map<string, Blob>> {
  const index = await files.get('model.safetensors.index.json', true);
  const out = new Map<string, Blob>();
  if (!index) {
    out.set('model.safetensors', (await files.get('model.safetensors', false))!);
    return out;
  }
  const map = (JSON.parse(await index.text()) as { weight_map?: Record<string, string> }).weight_map;
  if (!map || typeof map !== 'object')
    throw new ModelFilesError('model.safetensors.index.json has no weight_map object');
  for (const shard of new Set(Object.values(map))) out.set(shard, (await files.get(shard, false))!);
  return out;
}

/** A URL or file name of a GGUF file (one file: weights, tokenizer and chat template). */
export const isGgufName = (s: string): boolean => /\.gguf$/i.test(new URL(s, 'file:///').pathname);

/** The GGUF file a source names (a .gguf URL, or one picked .gguf file), or null for a model folder. */
export async function ggufOf(
  source: ModelSource,
  progress: Progress,
): Promise<{ name: string; blob: Blob } | null> {
  if (source.kind === 'files') {
    const [f] = source.files;
    if (!f || !isGgufName(f.name)) return null;
    if (source.files.length > 1)
      throw new ModelFilesError(
        `pick one .gguf file, or a model folder (${source.files.length} files picked)`,
      );
    return { name: f.name, blob: f };
  }
  if (!isGgufName(source.base)) return null;
  const url = new URL(source.base);
  const name = decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf('/') + 1));
  return { name, blob: (await urlFiles(new URL('.', url).href, progress).get(name, false))! };
}
