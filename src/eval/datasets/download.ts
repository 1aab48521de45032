/**
 * Fetching the benchmark files into a `--data` folder, in the published formats and the layout the
 * loaders read (the same as ../shared/data/benchmarks). Hub files are addressed by Hugging Face dataset
 * id and path (`https://huggingface.co/datasets/<id>/resolve/main/<path>`, or $HF_ENDPOINT); the files
 * the hub only holds converted to Parquet come from where they were first published (GitHub, AI2). A
 * zip is unpacked to the folders the loader wants. Where the network does not allow it, the error
 * lists every file to download and where to put it.
 *
 * The sources were written down from the projects' documentation; they could not be fetched from this
 * machine when this was written (no network), so a moved file shows up as a DatasetDownloadError naming
 * its URL, never as a half-written folder: each file is written to a temporary name and renamed.
 * MMLU, HellaSwag and MBPP have no source here: the copies the loaders read were re-formatted or
 * selected by third parties (see each NOTE.txt), so their files are put in place by hand.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ZipReader } from '../../io/zip.js';
import { EvalError } from '../errors.js';
import { BBH_SUBTASKS } from './bbh.js';

/** A file, or a zip whose entries under `members[i].from` go to `members[i].to`. */
export interface RemoteSource {
  /** `hf:<dataset id>/<path in the repo>` or an https URL. */
  source: string;
  /** Destination under the data folder (a folder for a zip). */
  dest: string;
  members?: { from: string; to: string }[];
}

export class DatasetDownloadError extends EvalError {}

const hub = (id: string, file: string): string => `hf:${id}/${file}`;
const GSM8K = 'https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data';
const BBH = 'https://raw.githubusercontent.com/suzgunmirac/BIG-Bench-Hard/main';
const MATH_POOL =
  'https://raw.githubusercontent.com/ZubinGou/math-evaluation-harness/main/data/math/test.jsonl';
const ARC_ZIP = 'https://ai2-public-datasets.s3.amazonaws.com/arc/ARC-V1-Feb2018.zip';

const arc = (set: 'ARC-Easy' | 'ARC-Challenge'): RemoteSource[] => [
  {
    source: ARC_ZIP,
    dest: path.join('arc', set),
    members: [{ from: `ARC-V1-Feb2018-2/${set}/`, to: path.join('arc', set) }],
  },
];

/** What each task reads, and where it comes from. */
export const DATASET_SOURCES: Readonly<Record<string, RemoteSource[] | string>> = {
  ceval: [
    {
      source: hub('ceval/ceval-exam', 'ceval-exam.zip'),
      dest: 'ceval',
      members: ['dev', 'val', 'test'].map((s) => ({ from: `${s}/`, to: path.join('ceval', s) })),
    },
  ],
  cmmlu: [
    {
      source: hub('haonan-li/cmmlu', 'cmmlu_v1_0_1.zip'),
      dest: 'cmmlu',
      members: ['dev', 'test'].map((s) => ({ from: `${s}/`, to: path.join('cmmlu', s) })),
    },
  ],
  math: [
    { source: hub('HuggingFaceH4/MATH-500', 'test.jsonl'), dest: path.join('math', 'math500_test.jsonl') },
    { source: MATH_POOL, dest: path.join('math', 'test.jsonl') },
  ],
  gsm8k: ['train', 'test'].map((s) => ({
    source: `${GSM8K}/${s}.jsonl`,
    dest: path.join('gsm8k', `${s}.jsonl`),
  })),
  humaneval: [
    {
      source: 'https://raw.githubusercontent.com/openai/human-eval/master/data/HumanEval.jsonl.gz',
      dest: path.join('humaneval', 'HumanEval.jsonl.gz'),
    },
  ],
  bbh: BBH_SUBTASKS.flatMap((t) => [
    { source: `${BBH}/bbh/${t}.json`, dest: path.join('bbh', 'bbh', `${t}.json`) },
    { source: `${BBH}/cot-prompts/${t}.txt`, dest: path.join('bbh', 'cot-prompts', `${t}.txt`) },
  ]),
  'arc-e': arc('ARC-Easy'),
  'arc-c': arc('ARC-Challenge'),
  mmlu: 'mmlu/{dev,test}/<subject>_{dev,test}.csv with the header question,choice0,choice1,choice2,choice3,answer and answers 0-3 (the hendrycks CSVs re-formatted; see mmlu/NOTE.txt of the repository copy)',
  hellaswag:
    'hellaswag/hellaswag_val_full.txt.bz2: the 10,042 validation tasks in the 6-line text format of klosax/hellaswag_text_data (llama.cpp perplexity --hellaswag), bzip2-compressed',
  mbpp: 'mbpp/mbpp.jsonl (google-research/google-research mbpp/mbpp.jsonl) and mbpp/sanitized-mbpp_427.jsonl (the 427 sanitized problems, one JSON object a line)',
};

export interface DownloadOptions {
  /** Base of hub URLs (default $HF_ENDPOINT or https://huggingface.co). */
  hfEndpoint?: string;
  /** Replaces scheme and host of every non-hub URL (a mirror; the tests' local server). */
  mirror?: string;
  /** Overwrite files that are already there (default: keep them). */
  force?: boolean;
  onFile?: (dest: string, bytes: number) => void;
}

/** The https URL of a source. */
export function sourceUrl(source: string, o: DownloadOptions = {}): string {
  if (source.startsWith('hf:')) {
    const rest = source.slice(3);
    const slash = rest.indexOf('/', rest.indexOf('/') + 1);
    const base = (o.hfEndpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/$/, '');
    return `${base}/datasets/${rest.slice(0, slash)}/resolve/main/${rest.slice(slash + 1)}`;
  }
  if (!o.mirror) return source;
  const u = new URL(source);
  return `${o.mirror.replace(/\/$/, '')}/${u.host}${u.pathname}`;
}

/** What to fetch by hand for `task` into `dir`, one line a file (the offline error's body). */
export function manualInstructions(task: string, dir: string, o: DownloadOptions = {}): string {
  const s = DATASET_SOURCES[task];
  if (typeof s === 'string') return `  put ${path.join(dir, s)}`;
  return s
    .map((f) =>
      f.members
        ? `  ${sourceUrl(f.source, o)}\n    unpack ${f.members.map((m) => `${m.from} -> ${path.join(dir, m.to)}`).join(', ')}`
        : `  ${sourceUrl(f.source, o)}\n    -> ${path.join(dir, f.dest)}`,
    )
    .join('\n');
}

/** The body of `url`; a dropped connection is tried again twice (a kept-alive socket can close under us). */
async function fetchBytes(url: string): Promise<Uint8Array> {
  for (let attempt = 0; ; attempt++) {
    let r: Response;
    try {
      r = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(120_000) });
    } catch (e) {
      if (attempt >= 2) throw e;
      await new Promise((ok) => setTimeout(ok, 250 * (attempt + 1)));
      continue;
    }
    if (!r.ok) throw new Error(`HTTP ${r.status} ${r.statusText}`);
    return new Uint8Array(await r.arrayBuffer());
  }
}

/** Writes `bytes` to `file` through a temporary name, so a failure never leaves a partial file. */
function writeAtomic(file: string, bytes: Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.part-${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}

/** Unpacks the entries of a downloaded zip under each member prefix; returns the files written. */
function unpack(bytes: Uint8Array, src: RemoteSource, dir: string, url: string): number {
  const tmp = path.join(dir, `.download-${process.pid}.zip`);
  fs.writeFileSync(tmp, bytes);
  const fd = fs.openSync(tmp, 'r');
  let n = 0;
  try {
    const zip = ZipReader.fromFd(tmp, fd);
    for (const m of src.members ?? [])
      for (const [name, e] of zip.entries) {
        const rel = name.startsWith(m.from) ? name.slice(m.from.length) : null;
        if (!rel || name.endsWith('/')) continue;
        // entry names come from the network: never let one climb out of its folder
        const out = path.resolve(dir, m.to, rel);
        if (!out.startsWith(path.resolve(dir, m.to) + path.sep))
          throw new DatasetDownloadError(`${url}: zip entry ${name} points outside its folder`);
        writeAtomic(out, zip.readAllSync(e));
        n++;
      }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
  }
  if (n === 0)
    throw new DatasetDownloadError(
      `${url} holds none of ${src.members?.map((m) => m.from).join(', ')}: the published archive changed; unpack it by hand`,
    );
  return n;
}

/**
 * Downloads the files of `task` into `dir` (skipping those already there unless `force`). Throws a
 * DatasetDownloadError that lists every file and its destination when a fetch fails (offline, moved).
 */
export async function downloadTask(task: string, dir: string, o: DownloadOptions = {}): Promise<number> {
  const sources = DATASET_SOURCES[task];
  if (sources === undefined)
    throw new DatasetDownloadError(
      `unknown task '${task}'; the tasks are ${Object.keys(DATASET_SOURCES).join(', ')}`,
    );
  if (typeof sources === 'string')
    throw new DatasetDownloadError(
      `${task} has no download source (its copy was re-formatted or selected by a third party): put its files in place by hand:\n` +
        manualInstructions(task, dir, o),
    );
  fs.mkdirSync(dir, { recursive: true });
  let files = 0;
  for (const src of sources) {
    const dest = path.join(dir, src.dest);
    if (!o.force && fs.existsSync(dest) && (!src.members || fs.readdirSync(dest).length > 0)) continue;
    const url = sourceUrl(src.source, o);
    let bytes: Uint8Array;
    try {
      bytes = await fetchBytes(url);
    } catch (e) {
      const why = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
      throw new DatasetDownloadError(
        `cannot download ${url} (${why}). Without network access, download these files for ${task} ` +
          `yourself and put them here, then run minicpm eval --data ${dir}:\n${manualInstructions(task, dir, o)}`,
      );
    }
    if (src.members) files += unpack(bytes, src, dir, url);
    else {
      writeAtomic(dest, bytes);
      files++;
    }
    o.onFile?.(src.dest, bytes.byteLength);
  }
  return files;
}
