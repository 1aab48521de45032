/**
 * Encode throughput of our SentencePiece-exact BPE against Google's SentencePiece (Debian
 * python3-sentencepiece, `encode(lines, num_threads=1)`) on the same multilingual text, same run.
 *
 *   npm run bench -- tokenizer [--passes 3] [--mb 2]
 *
 * Text: Chinese (CMMLU, C-Eval), English (MMLU) and code/math (MBPP, MATH) from ../shared/data, up to
 * `--mb` MB each, interleaved line by line for the "mixed" rows. Both sides encode line by line on one
 * thread; ours gets a fresh tokenizer every pass (its word cache starts cold; loading is not timed). The
 * token counts of both sides must agree, or the benchmark fails. Passes alternate ours and the peer and
 * the medians are reported.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SentencePieceTokenizer } from '../src/tokenizer/sentencepiece.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const shared = resolve(root, '..', 'shared');
const cache = join(root, '.cache', 'bench');
const PY = '/usr/bin/python3';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

/** Lines of the files in `dir` matching `ext`, up to `maxBytes`. */
function gather(dirs: string[], ext: string, maxBytes: number): string[] {
  const out: string[] = [];
  let bytes = 0;
  for (const d of dirs) {
    const p = join(shared, 'data', 'benchmarks', d);
    if (!existsSync(p)) continue;
    const files = p.endsWith(ext)
      ? [p]
      : readdirSync(p)
          .filter((f) => f.endsWith(ext))
          .sort()
          .map((f) => join(p, f));
    for (const f of files) {
      for (const line of readFileSync(f, 'utf8').split('\n')) {
        if (line === '') continue;
        out.push(line);
        bytes += Buffer.byteLength(line);
        if (bytes >= maxBytes) return out;
      }
    }
  }
  return out;
}

function ensurePeer(): boolean {
  const probe = () => spawnSync(PY, ['-c', 'import sentencepiece'], { encoding: 'utf8' }).status === 0;
  if (probe()) return true;
  console.error('installing the peer: apt-get install -y python3-sentencepiece');
  spawnSync('apt-get', ['install', '-y', '-qq', 'python3-sentencepiece'], { stdio: 'inherit' });
  return probe();
}

const PEER = `
import json, sys, time
import sentencepiece as spm
model, path, passes = sys.argv[1], sys.argv[2], int(sys.argv[3])
sp = spm.SentencePieceProcessor(model_file=model)
lines = open(path, encoding='utf-8').read().split('\\n')
sp.encode(lines[:200], num_threads=1)
times = []
for _ in range(passes):
    t = time.perf_counter(); ids = sp.encode(lines, num_threads=1); times.append(time.perf_counter() - t)
print(json.dumps({'times': times, 'tokens': sum(len(x) for x in ids)}))
`;

function runPeer(model: string, textFile: string, passes: number): { times: number[]; tokens: number } {
  const r = spawnSync(PY, ['-c', PEER, model, textFile, String(passes)], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`sentencepiece peer failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { times: number[]; tokens: number };
}

function runOurs(modelBytes: Uint8Array, lines: string[]): { time: number; tokens: number } {
  const tok = SentencePieceTokenizer.fromModelBytes(modelBytes);
  tok.encode('warm up the JIT 你好');
  const t = performance.now();
  let tokens = 0;
  for (const l of lines) tokens += tok.encode(l).length;
  return { time: (performance.now() - t) / 1000, tokens };
}

interface Row {
  name: string;
  unit: string;
  ours: number;
  peer: string;
  peer_value: number;
  ratio: number;
  limit_fraction: null;
  bytes: number;
  tokens: number;
  spread: { ours: number[]; peer: number[] };
}

// eslint-disable-next-line @typescript-eslint/require-await -- the dispatcher awaits every benchmark
export default async function tokenizerBench(args: string[] = []): Promise<void> {
  const passes = arg(args, 'passes', 3);
  const mb = arg(args, 'mb', 2);
  if (!existsSync(join(shared, 'data', 'benchmarks'))) {
    throw new Error('../shared/data/benchmarks is missing: the tokenizer benchmark needs its texts');
  }
  if (!ensurePeer()) throw new Error('peer missing: python3-sentencepiece could not be installed');
  mkdirSync(cache, { recursive: true });
  const zh = gather(['cmmlu/test', 'ceval/val', 'ceval/test'], '.csv', mb * 1e6);
  const en = gather(['mmlu/test'], '.csv', mb * 1e6);
  const code = gather(['mbpp/mbpp.jsonl', 'math/test.jsonl'], '.jsonl', mb * 1e6);
  const mixed: string[] = [];
  for (let i = 0; i < Math.max(zh.length, en.length, code.length); i++) {
    for (const src of [zh, en, code]) if (i < src.length) mixed.push(src[i]);
  }
  const cases: [string, string, string[]][] = [
    ['minicpm-2b', 'mixed', mixed],
    ['minicpm-1b', 'mixed', mixed],
    ['minicpm-2b', 'zh', zh],
    ['minicpm-2b', 'en', en],
    ['minicpm-2b', 'code', code],
  ];
  const rows: Row[] = [];
  for (const [model, label, lines] of cases) {
    const modelPath = join(shared, 'fixtures', 'tokenizer', model, 'tokenizer.model');
    const bytes = lines.reduce((s, l) => s + Buffer.byteLength(l), 0);
    const textFile = join(cache, `tokenizer-${label}.txt`);
    writeFileSync(textFile, lines.join('\n'));
    const modelBytes = readFileSync(modelPath);
    const ours: number[] = [];
    const peer: number[] = [];
    let tokens = 0;
    for (let p = 0; p < passes; p++) {
      const runA = () => {
        const r = runOurs(modelBytes, lines);
        ours.push(bytes / r.time / 1e6);
        tokens = r.tokens;
      };
      const runB = () => {
        const r = runPeer(modelPath, textFile, 1);
        peer.push(bytes / r.times[0] / 1e6);
        if (tokens && r.tokens !== tokens)
          throw new Error(`${model} ${label}: ${r.tokens} tokens from SentencePiece, ${tokens} from us`);
      };
      if (p % 2 === 0) {
        runA();
        runB();
      } else {
        runB();
        runA();
      }
    }
    const o = median(ours);
    const q = median(peer);
    const row: Row = {
      name: `encode ${model} ${label}`,
      unit: 'MB/s',
      ours: +o.toFixed(3),
      peer: 'sentencepiece',
      peer_value: +q.toFixed(3),
      ratio: +(o / q).toFixed(3),
      limit_fraction: null,
      bytes,
      tokens,
      spread: { ours: ours.map((x) => +x.toFixed(3)), peer: peer.map((x) => +x.toFixed(3)) },
    };
    rows.push(row);
    console.log(
      `${row.name.padEnd(28)} ours ${row.ours.toFixed(2).padStart(6)} MB/s   sentencepiece ${row.peer_value.toFixed(2).padStart(6)} MB/s   ratio ${row.ratio.toFixed(2)}`,
    );
  }
  const out = join(root, 'bench', 'results', 'tokenizer.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ rows }, null, 2) + '\n');
  console.log(`wrote ${out}`);
}
