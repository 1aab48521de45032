/** The messages between the chat page and its engine worker. */
import type { ChatMessage } from '../../src/tokenizer/index.js';

/** Where the model comes from: a folder URL (files fetched and cached) or files the user picked. */
export type ModelSource = { kind: 'url'; base: string } | { kind: 'files'; files: File[] };

export type ToWorker =
  | {
      type: 'load';
      source: ModelSource;
      threads: number;
      wasmUrl: string;
      /** The single-threaded module, for pages without cross-origin isolation. */
      wasmStUrl: string;
      /** Int32 flag the page sets to 1 to stop a generation (needs shared memory); else 'cancel' messages. */
      cancel: SharedArrayBuffer | null;
    }
  | { type: 'generate'; messages: ChatMessage[]; maxNewTokens: number; temperature: number }
  | { type: 'bench'; prompt: number[]; decode: number }
  | { type: 'cancel' };

export type LoadPhase = 'download' | 'cache' | 'weights';

export type FromWorker =
  | { type: 'progress'; phase: LoadPhase; file: string; loaded: number; total: number }
  | { type: 'ready'; backend: string; notice: string | null; params: number; layers: number }
  | { type: 'token'; id: number; text: string }
  | {
      type: 'done';
      ids: number[];
      promptTokens: number;
      prefillMs: number;
      decodeMs: number;
      cancelled: boolean;
    }
  | { type: 'error'; message: string };
