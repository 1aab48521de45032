/** The tokenizer layer: SentencePiece-exact BPE, tokenizer.json, GGUF vocabularies, training and chat. */
export * from './types.js';
export * from './errors.js';
export { SentencePieceTokenizer, type SentencePieceParams, type SpDefaults } from './sentencepiece.js';
export { HfTokenizer, type AddedToken, type HfTokenizerOverrides } from './tokenizer-json.js';
export { loadTokenizer, type LoadedTokenizer, type LoadOptions } from './load.js';
export { tokenizerFromGgufMetadata, tokenizerFromVocab, vocabFromGgufMetadata } from './gguf-vocab.js';
export { decodeModelProto, encodeModelProto, type ModelProtoData } from './proto.js';
export {
  applyChatTemplate,
  renderChatTemplate,
  renderMiniCpmChat,
  type ChatMessage,
  type RenderedChat,
  type MiniCpmChatOptions,
  type TemplateOptions,
} from './chat.js';
export {
  trainBpe,
  trainBpeFromFiles,
  TRAIN_DEFAULTS,
  type TrainOptions,
  type TrainResult,
  type TrainProgress,
} from './trainer.js';
export { trainedModelProto, trainedTokenizerJson, writeTrainedTokenizer } from './trainer-output.js';
export { compressionStats, statsTable, type CompressionStats } from './stats.js';
