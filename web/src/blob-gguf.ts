/**
 * A GGUF file held in a Blob (fetched and cached, or picked), read inside the Worker by positioned
 * FileReaderSync reads: GgufFile.fromSource parses the header from it and the model loader reads each
 * tensor's bytes when it needs them, so the file is never held whole in memory.
 */
import { GgufFile, type GgufByteSource } from '../../src/io/gguf.js';
import { CheckpointError, readBlobSync } from './blob-checkpoint.js';

/** The byte source over `blob`; onRead counts the bytes read (the load progress bar). */
export function blobByteSource(blob: Blob, name: string, onRead: (bytes: number) => void): GgufByteSource {
  return {
    size: blob.size,
    readSync(position, length) {
      if (position + length > blob.size)
        throw new CheckpointError(
          `${name}: needs bytes up to ${position + length} but the file has ${blob.size} (truncated download?)`,
        );
      const out = new Uint8Array(length);
      readBlobSync(blob, position, out);
      onRead(length);
      return out;
    },
  };
}

export function openBlobGguf(blob: Blob, name: string, onRead: (bytes: number) => void): GgufFile {
  return GgufFile.fromSource(name, blobByteSource(blob, name, onRead));
}
