/**
 * The tokenizer that goes with `--model`: a GGUF file carries its own (tokenizer.ggml.* metadata), a
 * folder or tokenizer file goes through tokenizer/load.
 */
import { openGgufSync } from '../io/gguf.js';
import { isGgufPath } from '../models/gguf-load.js';
import { tokenizerFromGgufMetadata } from '../tokenizer/gguf-vocab.js';
import { loadTokenizer, type LoadedTokenizer, type LoadOptions } from '../tokenizer/load.js';

export function loadModelTokenizer(p: string, opts: LoadOptions = {}): LoadedTokenizer {
  if (!isGgufPath(p)) return loadTokenizer(p, opts);
  const file = openGgufSync(p);
  try {
    const template = file.metadata.get('tokenizer.chat_template');
    return {
      tokenizer: tokenizerFromGgufMetadata(file.metadata),
      path: p,
      chatTemplate: template?.type === 'string' ? template.value : undefined,
    };
  } finally {
    void file.close();
  }
}
