/**
 * A minimal GGUF metadata reader for the tokenizer tests only (io/gguf.ts is the real reader; the tokenizer
 * layer must not import io/). Reads the header key/values and stops before the tensor infos.
 */
import { readFileSync } from 'node:fs';

export function readGgufMetadata(path: string): Map<string, unknown> {
  const buf = readFileSync(path);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const u32 = () => ((pos += 4), view.getUint32(pos - 4, true));
  const u64 = () => ((pos += 8), Number(view.getBigUint64(pos - 8, true)));
  const str = () => {
    const n = u64();
    pos += n;
    return buf.toString('utf8', pos - n, pos);
  };
  if (buf.toString('latin1', 0, 4) !== 'GGUF') throw new Error(`${path} is not a GGUF file`);
  pos = 4;
  const version = u32();
  if (version < 2) throw new Error(`GGUF version ${version} is not supported`);
  u64(); // tensor count
  const kvCount = u64();
  const value = (type: number): unknown => {
    switch (type) {
      case 0:
        return view.getUint8(pos++);
      case 1:
        return view.getInt8(pos++);
      case 2:
        return ((pos += 2), view.getUint16(pos - 2, true));
      case 3:
        return ((pos += 2), view.getInt16(pos - 2, true));
      case 4:
        return u32();
      case 5:
        return ((pos += 4), view.getInt32(pos - 4, true));
      case 6:
        return ((pos += 4), view.getFloat32(pos - 4, true));
      case 7:
        return view.getUint8(pos++) !== 0;
      case 8:
        return str();
      case 9: {
        const itemType = u32();
        const n = u64();
        const out = new Array<unknown>(n);
        for (let i = 0; i < n; i++) out[i] = value(itemType);
        return out;
      }
      case 10:
        return u64();
      case 11:
        return ((pos += 8), Number(view.getBigInt64(pos - 8, true)));
      case 12:
        return ((pos += 8), view.getFloat64(pos - 8, true));
      default:
        throw new Error(`unknown GGUF value type ${type} at byte ${pos}`);
    }
  };
  const meta = new Map<string, unknown>();
  for (let i = 0; i < kvCount; i++) {
    const key = str();
    meta.set(key, value(u32()));
  }
  return meta;
}

/** llama.cpp's test vectors: inputs separated by `__ggml_vocab_test__` lines, one id line per input. */
export function readVocabTests(inpPath: string, outPath: string): { text: string; ids: number[] }[] {
  const inputs = readFileSync(inpPath, 'utf8').split('\n__ggml_vocab_test__\n');
  if (inputs.length > 0 && inputs[inputs.length - 1] === '') inputs.pop();
  const outputs = readFileSync(outPath, 'utf8').split('\n');
  return inputs.map((text, i) => ({
    text,
    ids: outputs[i].trim() === '' ? [] : outputs[i].trim().split(/\s+/).map(Number),
  }));
}
