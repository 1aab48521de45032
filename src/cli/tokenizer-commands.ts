/**
 * `minicpm tokenize`, `minicpm tokenizer train` and `minicpm tokenizer stats`: thin wrappers over
 * src/tokenizer (GGUF files are opened through io/gguf).
 */
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import type { Command } from 'commander';
import { openGguf } from '../io/gguf.js';
import {
  compressionStats,
  loadTokenizer,
  statsTable,
  tokenizerFromGgufMetadata,
  trainBpeFromFiles,
  TRAIN_DEFAULTS,
  writeTrainedTokenizer,
  TokenizerError,
  type Tokenizer,
  type TrainProgress,
} from '../tokenizer/index.js';

/** Loads a tokenizer.model, tokenizer.json, model folder, or the vocabulary inside a .gguf file. */
export async function openTokenizer(path: string, prefer?: 'model' | 'json'): Promise<Tokenizer> {
  if (path.endsWith('.gguf')) {
    const file = await openGguf(path);
    try {
      return tokenizerFromGgufMetadata(file.metadata);
    } finally {
      await file.close();
    }
  }
  return loadTokenizer(path, { prefer }).tokenizer;
}

interface TokenizeCli {
  tokenizer: string;
  input?: string;
  output?: string;
  text?: string;
  addBos?: boolean;
  addEos?: boolean;
  parseSpecial?: boolean;
  prefer?: 'model' | 'json';
}

async function tokenizeCommand(o: TokenizeCli): Promise<void> {
  const tok = await openTokenizer(o.tokenizer, o.prefer);
  const opts = {
    addBos: o.addBos === true,
    addEos: o.addEos === true,
    parseSpecial: o.parseSpecial === true,
  };
  if (o.text !== undefined) {
    console.log(JSON.stringify({ ids: tok.encode(o.text, opts) }));
    return;
  }
  if (!o.input)
    throw new TokenizerError('pass --input STRINGS.jsonl (one JSON string per line) or --text STRING');
  const out = o.output ? createWriteStream(o.output) : process.stdout;
  const rl = createInterface({ input: createReadStream(o.input, { encoding: 'utf8' }), crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of rl) {
    lineNo++;
    if (line.trim() === '') continue;
    let text: unknown;
    try {
      text = JSON.parse(line);
    } catch {
      throw new TokenizerError(
        `${o.input}:${lineNo} is not JSON: each line must be a JSON string like "hello"`,
      );
    }
    if (typeof text === 'object' && text !== null && typeof (text as { text?: unknown }).text === 'string') {
      text = (text as { text: string }).text;
    }
    if (typeof text !== 'string') throw new TokenizerError(`${o.input}:${lineNo} must be a JSON string`);
    if (!out.write(JSON.stringify({ ids: tok.encode(text, opts) }) + '\n')) await once(out, 'drain');
  }
  if (out !== process.stdout) {
    out.end();
    await once(out, 'finish');
  }
}

function progressPrinter(): (p: TrainProgress) => void {
  const t0 = performance.now();
  return (p) => {
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    if (p.phase === 'read')
      process.stderr.write(`[${s}s] read ${(p.done / 1e6).toFixed(1)} MB, ${p.detail}\n`);
    else if (p.phase === 'count') process.stderr.write(`[${s}s] ${p.detail}\n`);
    else if (p.phase === 'merge') {
      const rate = p.done / ((performance.now() - t0) / 1000);
      const eta = p.total ? ((p.total - p.done) / Math.max(rate, 1)).toFixed(0) : '?';
      process.stderr.write(
        `[${s}s] merges ${p.done}/${p.total}  ETA ${eta}s  last ${JSON.stringify(p.detail)}\n`,
      );
    } else process.stderr.write(`[${s}s] done: ${p.done} merges\n`);
  };
}

interface TrainCli {
  input: string[];
  vocabSize: string;
  output: string;
  characterCoverage: string;
  userDefinedSymbols?: string[];
  userDefinedFile?: string;
  maxPieceLength: string;
  byteFallback: boolean;
  splitDigits: boolean;
  splitByUnicodeScript: boolean;
  addDummyPrefix?: boolean;
}

async function trainCommand(o: TrainCli): Promise<void> {
  const num = (v: string, what: string) => {
    const x = Number(v);
    if (!Number.isFinite(x)) throw new TokenizerError(`${what} must be a number, got "${v}"`);
    return x;
  };
  let userDefined = o.userDefinedSymbols ?? TRAIN_DEFAULTS.userDefinedSymbols;
  if (o.userDefinedFile) {
    // One symbol per line, JSON-quoted when it needs escapes ("\n").
    userDefined = readFileSync(o.userDefinedFile, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (l.startsWith('"') ? (JSON.parse(l) as string) : l));
  }
  const result = await trainBpeFromFiles(o.input, {
    vocabSize: num(o.vocabSize, '--vocab-size'),
    characterCoverage: num(o.characterCoverage, '--character-coverage'),
    userDefinedSymbols: userDefined.map((s) => s.replaceAll('\\n', '\n').replaceAll('\\t', '\t')),
    maxPieceLength: num(o.maxPieceLength, '--max-piece-length'),
    byteFallback: o.byteFallback,
    splitDigits: o.splitDigits,
    splitByUnicodeScript: o.splitByUnicodeScript,
    addDummyPrefix: o.addDummyPrefix === true,
    onProgress: progressPrinter(),
  });
  const files = writeTrainedTokenizer(result, o.output);
  const st = result.stats;
  console.log(
    `trained ${result.pieces.length} pieces (${st.merges} merges, ${st.requiredChars} characters) on ` +
      `${(st.bytes / 1e6).toFixed(1)} MB in ${st.seconds.toFixed(1)}s → ${files.join(', ')}`,
  );
}

async function statsCommand(o: {
  tokenizer: string[];
  input: string[];
  json?: boolean;
  prefer?: 'model' | 'json';
}) {
  const toks = await Promise.all(o.tokenizer.map((t) => openTokenizer(t, o.prefer)));
  const rows = [];
  for (const file of o.input) rows.push(await Promise.all(toks.map((t) => compressionStats(t, file))));
  if (o.json) console.log(JSON.stringify({ tokenizers: o.tokenizer, rows }, null, 2));
  else console.log(statsTable(o.tokenizer.map(shortName), rows));
}

/** "…/minicpm-2b/tokenizer.model" → "minicpm-2b"; other paths → their file name. */
function shortName(p: string): string {
  const parts = p.replace(/\/+$/, '').split('/');
  const last = parts[parts.length - 1];
  return /^tokenizer\.(model|json)$/.test(last) && parts.length > 1 ? parts[parts.length - 2] : last;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerTokenizerCommands(program: Command): void {
  program
    .command('tokenize')
    .description('encode text with a tokenizer (tokenizer.model, tokenizer.json, model folder or .gguf)')
    .requiredOption('--tokenizer <path>', 'tokenizer file or model folder')
    .option('--input <strings.jsonl>', 'one JSON string per line')
    .option('--output <ids.jsonl>', '{"ids": [...]} per line (default: stdout)')
    .option('--text <string>', 'encode one string')
    .option('--add-bos', 'prepend <s>')
    .option('--add-eos', 'append </s>')
    .option('--parse-special', 'turn control-token strings such as </s> in the text into their ids')
    .option('--prefer <kind>', 'in a folder with both files: model | json', 'model')
    .action((o: TokenizeCli) => tokenizeCommand(o));

  const tokenizer = program.command('tokenizer').description('train and measure tokenizers');
  tokenizer
    .command('train')
    .description(
      'train a SentencePiece BPE tokenizer (MiniCPM settings); writes tokenizer.model and tokenizer.json',
    )
    .requiredOption('--input <files...>', 'text files, one sentence or document per line')
    .requiredOption(
      '--vocab-size <n>',
      'total pieces including <unk>, <s>, </s>, user-defined and byte pieces',
    )
    .requiredOption('--output <dir>', 'output folder')
    .option('--character-coverage <x>', 'share of characters that must be pieces (rest → bytes)', '0.9995')
    .option('--user-defined-symbols <symbols...>', 'pieces matched whole (\\n and \\t escapes allowed)')
    .option('--user-defined-file <path>', 'user-defined symbols, one per line (JSON-quoted if needed)')
    .option('--max-piece-length <n>', 'longest piece in characters', '16')
    .option('--no-byte-fallback', 'map unknown characters to <unk> instead of <0xNN> bytes')
    .option('--no-split-digits', 'let digits merge into numbers')
    .option('--no-split-by-unicode-script', 'let pieces mix scripts')
    .option('--add-dummy-prefix', 'prepend ▁ to every text (Llama style; MiniCPM does not)')
    .action((o: TrainCli) => trainCommand(o));
  tokenizer
    .command('stats')
    .description('bytes per token of each input under one or more tokenizers')
    .requiredOption('--tokenizer <path>', 'tokenizer (repeat to compare)', collect)
    .requiredOption('--input <files...>', 'text files')
    .option('--json', 'print JSON instead of a table')
    .option('--prefer <kind>', 'in a folder with both files: model | json', 'model')
    .action((o: { tokenizer: string[]; input: string[]; json?: boolean; prefer?: 'model' | 'json' }) =>
      statsCommand(o),
    );
}
