/** The data layer: sources → clean, deduplicated documents → tokenized shards → packed batches. */
export * from './errors.js';
export type { TextEncoder, TokenEncoder, RawDoc, DocRecord, Log } from './types.js';
export { ByteEncoder } from './byte-encoder.js';
export { cleanDocument, normalizeText, splitLong, defaultCleanOptions, type CleanOptions } from './clean.js';
export { decodeBytes } from './decode.js';
export { minhash, similarity, unitHashes, type MinHashOptions } from './dedup/minhash.js';
export { Deduplicator, exactKey, defaultDedup, type DedupOptions, type DedupVerdict } from './dedup/dedup.js';
export { isValidation, type Split } from './split.js';
export { openLocalSource, type LocalSourceSpec, type LocalSourceType } from './sources/local.js';
export { buildDocuments, type DocSource, type BuildDocsOptions } from './build-docs.js';
export { readManifest, readDocs, type DocsManifest, type SourceManifest } from './manifest.js';
export { buildCorpus, corpusDocsDir, corpusSummary, type CorpusOptions } from './corpus/build-corpus.js';
export { BUILTIN_SOURCES, PACKAGES, INSTRUCT_SOURCE, type BuiltinSource } from './corpus/catalog.js';
export { cacheRoot, defaultCorpusDir, mixturesDir } from './paths.js';
export {
  loadMixture,
  parseMixture,
  mixtureWeights,
  epochReport,
  formatEpochReport,
  type Mixture,
  type MixtureSource,
  type EpochRow,
} from './mixture.js';
export { prepareMixture, type PrepareOptions } from './shards/prepare.js';
export {
  readShardIndex,
  readShard,
  dtypeFor,
  tokenizerFingerprint,
  type ShardIndex,
  type ShardSource,
  type SplitShards,
} from './shards/format.js';
export { PackedLoader, type LoaderOptions, type LoaderState, type PackedBatch } from './loader.js';
export {
  synthesizeInstructions,
  chatText,
  type InstructionItem,
  type InstructionKind,
} from './instruct/synth.js';
export { readInstructions } from './instruct/read.js';
export { shardSummary } from './stats.js';
export { loadTextEncoder } from './load-tokenizer.js';
