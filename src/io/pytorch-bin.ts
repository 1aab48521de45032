// PyTorch `torch.save` checkpoints (pytorch_model.bin, *.pt) in the zip format of PyTorch >= 1.6:
// `<root>/data.pkl` is a pickle of the state dict whose tensors point (via persistent ids) at storages
// stored as `<root>/data/<key>`. We unpickle with a strict allow-list and read each tensor's bytes
// lazily from its storage, copying strided views into contiguous row-major records.

import * as fs from 'node:fs';
import { DTYPE_SIZE, numel, type DType, type TensorRecord } from './dtypes.js';
import { CheckpointFormatError, TensorNotFoundError, UnsafePickleError } from './errors.js';
import { closeFd, promised, readAtSync } from './file-io.js';
import { isPickleCallable, unpickle, type PickleCallable, type PickleValue } from './pickle.js';
import { checkInto, type TensorInfo, type TensorReader } from './tensor-source.js';
import { ZipReader, type ZipEntry } from './zip.js';

const STORAGE_DTYPES: Record<string, DType> = {
  DoubleStorage: 'F64',
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

const TORCH_DTYPES: Record<string, DType> = {
  float64: 'F64',
  double: 'F64',
  float32: 'F32',
  float: 'F32',
  float16: 'F16',
  half: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  long: 'I64',
  int32: 'I32',
  int: 'I32',
  int16: 'I16',
  short: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

class StorageType {
  constructor(readonly dtype: DType) {}
}
class TorchDType {
  constructor(readonly dtype: DType) {}
}
interface StorageRef {
  key: string;
  dtype: DType;
  numel: number;
  entry: ZipEntry;
}
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

function fn(pickleName: string, call: (args: PickleValue[]) => PickleValue): PickleCallable {
  return { pickleName, call };
}

export class PytorchBinFile implements TensorReader {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly zip: ZipReader,
    private readonly tensors: Map<string, TensorRef>,
    /** Non-tensor leaves of the pickled object (e.g. an `epoch` counter), by dotted key. */
    readonly extras: Map<string, PickleValue>,
  ) {}

  static open(path: string): Promise<PytorchBinFile> {
    return promised(() => PytorchBinFile.openSync(path));
  }

  static openSync(path: string): PytorchBinFile {
    const fd = fs.openSync(path, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const magic = size >= 4 ? readAtSync(fd, 0, 4, path) : new Uint8Array(0);
      if (!(magic[0] === 0x50 && magic[1] === 0x4b && magic[2] === 0x03 && magic[3] === 0x04)) {
        if (magic[0] === 0x80 && magic[1] === 0x02 && magic[2] === 0x8a) {
          throw new CheckpointFormatError(
            path,
            'this is the legacy (PyTorch < 1.6) torch.save format, which is not supported; ' +
              're-save it with a recent PyTorch (torch.save(torch.load(f), f)) or convert it to safetensors',
          );
        }
        throw new CheckpointFormatError(
          path,
          'not a PyTorch checkpoint: the file does not start with a zip header',
        );
      }
      const zip = ZipReader.fromFd(path, fd);
      const { tensors, extras } = loadIndex(path, zip);
      return new PytorchBinFile(path, fd, zip, tensors, extras);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.ref(name);
    return {
      name,
      dtype: t.storage.dtype,
      shape: [...t.shape],
      byteLength: numel(t.shape) * DTYPE_SIZE[t.storage.dtype],
    };
  }

  /** Storage key and layout of a tensor, e.g. to see which tensors share storage. */
  layout(name: string): { storageKey: string; offset: number; stride: number[] } {
    const t = this.ref(name);
    return { storageKey: t.storage.key, offset: t.offset, stride: [...t.stride] };
  }

  async read(name: string): Promise<TensorRecord> {
    const t = this.ref(name);
    const span = spanOf(t);
    const bytes =
      span.length === 0
        ? new Uint8Array(0)
        : await this.zip.readRange(t.storage.entry, span.start, span.length);
    return { name, dtype: t.storage.dtype, shape: [...t.shape], data: gather(t, bytes) };
  }

  readSync(name: string): TensorRecord {
    const t = this.ref(name);
    const span = spanOf(t);
    const bytes =
      span.length === 0
        ? new Uint8Array(0)
        : this.zip.readRangeSync(t.storage.entry, span.start, span.length);
    return { name, dtype: t.storage.dtype, shape: [...t.shape], data: gather(t, bytes) };
  }

  /** Zip entries may be compressed and tensors strided, so this one reads, gathers, then copies. */
  readIntoSync(name: string, into: Uint8Array): void {
    checkInto(this.path, this.info(name), into);
    into.set(this.readSync(name).data);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await closeFd(this.fd);
  }

  private ref(name: string): TensorRef {
    if (this.closed) throw new Error(`${this.path}: file is closed`);
    const t = this.tensors.get(name);
    if (!t) throw new TensorNotFoundError(this.path, name, this.names());
    return t;
  }
}

export function openPytorchBin(path: string): Promise<PytorchBinFile> {
  return PytorchBinFile.open(path);
}

/** Byte range of the storage that a (possibly strided) tensor touches. */
function spanOf(t: TensorRef): { start: number; length: number } {
  const es = DTYPE_SIZE[t.storage.dtype];
  if (numel(t.shape) === 0) return { start: 0, length: 0 };
  let last = t.offset;
  for (let i = 0; i < t.shape.length; i++) last += (t.shape[i] - 1) * t.stride[i];
  return { start: t.offset * es, length: (last - t.offset + 1) * es };
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i];
  }
  return true;
}

/** Copy a strided view (bytes start at the view's first element) into a contiguous row-major buffer. */
function gather(t: TensorRef, bytes: Uint8Array): Uint8Array {
  const n = numel(t.shape);
  if (n === 0) return new Uint8Array(0);
  if (isContiguous(t.shape, t.stride)) return bytes;
  const es = DTYPE_SIZE[t.storage.dtype];
  const out = new Uint8Array(n * es);
  const nd = t.shape.length;
  const idx = new Array<number>(nd).fill(0);
  let src = 0; // element offset from the view's first element
  for (let i = 0; i < n; i++) {
    out.set(bytes.subarray(src * es, src * es + es), i * es);
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d] < t.shape[d]) {
        src += t.stride[d];
        break;
      }
      src -= (t.shape[d] - 1) * t.stride[d];
      idx[d] = 0;
    }
  }
  return out;
}

const isList = (v: PickleValue): v is PickleValue[] => Array.isArray(v);

/** Keys and values in messages: strings and numbers as themselves, anything else by kind. */
function describeValue(v: PickleValue): string {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean')
    return String(v);
  if (v === null) return 'None';
  if (Array.isArray(v)) return `(${v.map(describeValue).join(', ')})`;
  return Object.prototype.toString.call(v);
}

function asIntList(v: PickleValue, what: string, path: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) {
    throw new CheckpointFormatError(
      path,
      `${what} must be a tuple of non-negative integers, got ${describeValue(v)}`,
    );
  }
  return v as number[];
}

function loadIndex(
  path: string,
  zip: ZipReader,
): { tensors: Map<string, TensorRef>; extras: Map<string, PickleValue> } {
  const pkl = [...zip.entries.keys()].find((n) => /^([^/]+\/)?data\.pkl$/.test(n));
  if (!pkl) throw new CheckpointFormatError(path, 'the zip has no data.pkl: not a torch.save checkpoint');
  const root = pkl.slice(0, -'data.pkl'.length);
  const order = zip.entry(`${root}byteorder`);
  if (order && new TextDecoder().decode(zip.readAllSync(order)).trim() !== 'little') {
    throw new CheckpointFormatError(path, 'big-endian torch.save checkpoints are not supported');
  }
  const bad = (msg: string) => new CheckpointFormatError(path, msg);

  const rebuildTensor = (args: PickleValue[]) => {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof Object) || !('entry' in storage))
      throw bad('_rebuild_tensor: first argument is not a storage');
    const s = storage as StorageRef;
    if (!Number.isSafeInteger(offset) || (offset as number) < 0)
      throw bad('_rebuild_tensor: bad storage offset');
    const shape = asIntList(size, 'tensor size', path);
    const strides = asIntList(stride, 'tensor stride', path);
    if (shape.length !== strides.length) throw bad('tensor size and stride differ in length');
    const t = new TensorRef(s, offset as number, [...shape], [...strides]);
    const span = spanOf(t);
    if (span.length > 0 && span.start + span.length > s.numel * DTYPE_SIZE[s.dtype]) {
      throw bad(
        `a tensor of shape [${shape.join(', ')}] runs past the end of storage '${s.key}' (${s.numel} elements)`,
      );
    }
    return t;
  };
  // A Map, not an object literal: a pickle must not reach Object.prototype through a crafted name.
  const globals = new Map<string, PickleValue>(
    Object.entries({
      'collections.OrderedDict': fn('collections.OrderedDict', (args) => {
        const m = new Map<PickleValue, PickleValue>();
        const items = args[0];
        if (Array.isArray(items)) {
          for (const kv of items as PickleValue[]) if (isList(kv) && kv.length === 2) m.set(kv[0], kv[1]);
        }
        return m;
      }),
      'torch._utils._rebuild_tensor': fn('torch._utils._rebuild_tensor', rebuildTensor),
      'torch._utils._rebuild_tensor_v2': fn('torch._utils._rebuild_tensor_v2', rebuildTensor),
      'torch._utils._rebuild_parameter': fn('torch._utils._rebuild_parameter', (args) => args[0]),
      'torch._utils._rebuild_parameter_with_state': fn(
        'torch._utils._rebuild_parameter_with_state',
        (args) => args[0],
      ),
    }),
  );
  for (const [name, dtype] of Object.entries(STORAGE_DTYPES))
    globals.set(`torch.${name}`, new StorageType(dtype));
  for (const [name, dtype] of Object.entries(TORCH_DTYPES))
    globals.set(`torch.${name}`, new TorchDType(dtype));

  const storages = new Map<string, StorageRef>();
  const value = unpickle(zip.readAllSync(zip.entry(pkl)!), {
    path,
    findGlobal(module, name) {
      const g = globals.get(`${module}.${name}`);
      if (g === undefined) throw new UnsafePickleError(path, `${module}.${name}`);
      return g;
    },
    persistentLoad(pid) {
      if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5)
        throw bad('unsupported persistent id in data.pkl');
      const [, type, key, , count] = pid;
      if (!(type instanceof StorageType)) throw bad('persistent id without a storage type');
      if (typeof key !== 'string' || !Number.isSafeInteger(count))
        throw bad('malformed storage persistent id');
      const cached = storages.get(key);
      if (cached) return cached;
      const entry = zip.entry(`${root}data/${key}`);
      if (!entry) throw bad(`storage '${key}' is missing from the archive (truncated or damaged file)`);
      const need = (count as number) * DTYPE_SIZE[type.dtype];
      if (entry.size < need) throw bad(`storage '${key}' has ${entry.size} bytes but ${need} are declared`);
      const ref: StorageRef = { key, dtype: type.dtype, numel: count as number, entry };
      storages.set(key, ref);
      return ref;
    },
  });

  const tensors = new Map<string, TensorRef>();
  const extras = new Map<string, PickleValue>();
  // Nested dicts ({"model": {...}} or {"nested": {"b": t}}) flatten to dotted names.
  const walk = (v: PickleValue, prefix: string) => {
    if (v instanceof TensorRef) tensors.set(prefix, v);
    else if (v instanceof Map)
      for (const [k, x] of v) walk(x, prefix ? `${prefix}.${describeValue(k)}` : describeValue(k));
    else if (!isPickleCallable(v)) extras.set(prefix, v);
  };
  if (!(value instanceof Map)) throw bad('data.pkl does not hold a dict of tensors (a state dict)');
  walk(value, '');
  return { tensors, extras };
}
