/**
 * Loading a tokenizer from disk: a `tokenizer.model`, a `tokenizer.json`, or a model folder holding them
 * (plus `tokenizer_config.json` for the chat template and BOS/EOS names). GGUF files are read by io/ and
 * passed to `tokenizerFromGgufMetadata`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { TokenizerError, TokenizerFormatError } from './errors.js';
import { SentencePieceTokenizer } from './sentencepiece.js';
import { HfTokenizer } from './tokenizer-json.js';
import type { Tokenizer } from './types.js';

export interface LoadedTokenizer {
  tokenizer: Tokenizer;
  /** The file that was loaded. */
  path: string;
  /** Jinja chat template from tokenizer_config.json, when present. */
  chatTemplate?: string;
  config?: Record<string, unknown>;
}

export interface LoadOptions {
  /** In a folder with both files: 'model' (default; SentencePiece is MiniCPM's reference) or 'json'. */
  prefer?: 'model' | 'json';
}

const tokenName = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : v && typeof v === 'object' && 'content' in v ? String(v.content) : undefined;

export function loadTokenizer(path: string, options: LoadOptions = {}): LoadedTokenizer {
  if (!existsSync(path))
    throw new TokenizerError(
      `${path} does not exist: pass a tokenizer.model, tokenizer.json or model folder`,
    );
  let file = path;
  if (statSync(path).isDirectory()) {
    const candidates =
      options.prefer === 'json'
        ? ['tokenizer.json', 'tokenizer.model']
        : ['tokenizer.model', 'tokenizer.json'];
    const found = candidates.map((c) => join(path, c)).find((c) => existsSync(c));
    if (!found) throw new TokenizerError(`${path} has neither tokenizer.model nor tokenizer.json`);
    file = found;
  }
  const configPath = join(dirname(file), 'tokenizer_config.json');
  let config: Record<string, unknown> | undefined;
  if (existsSync(configPath)) {
    try {
      config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new TokenizerFormatError(`${configPath} is not valid JSON (${(e as Error).message})`);
    }
  }
  const bytes = readFileSync(file);
  let tokenizer: Tokenizer;
  if (file.endsWith('.gguf') || bytes.subarray(0, 4).toString('latin1') === 'GGUF') {
    throw new TokenizerError(
      `${file} is a GGUF file: read its metadata with io/gguf and call tokenizerFromGgufMetadata`,
    );
  } else if (file.endsWith('.json') || bytes[0] === 0x7b) {
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      throw new TokenizerFormatError(
        `${file} is not valid JSON (${(e as Error).message}): the file is corrupt or truncated`,
      );
    }
    tokenizer = new HfTokenizer(json, {
      bosToken: tokenName(config?.bos_token),
      eosToken: tokenName(config?.eos_token),
      padToken: tokenName(config?.pad_token),
      addBos: typeof config?.add_bos_token === 'boolean' ? config.add_bos_token : undefined,
      addEos: typeof config?.add_eos_token === 'boolean' ? config.add_eos_token : undefined,
      source: basename(file),
    });
  } else {
    tokenizer = SentencePieceTokenizer.fromModelBytes(bytes, file, {
      addBos: typeof config?.add_bos_token === 'boolean' ? config.add_bos_token : undefined,
      addEos: typeof config?.add_eos_token === 'boolean' ? config.add_eos_token : undefined,
    });
  }
  const template = config?.chat_template;
  return {
    tokenizer,
    path: file,
    chatTemplate: typeof template === 'string' ? template : undefined,
    config,
  };
}
