// A restricted unpickler (protocols 0-5) for PyTorch state dicts. It never executes anything: every
// GLOBAL is resolved through the caller's `findGlobal`, which returns a harmless stand-in for the few
// allowed names (OrderedDict, torch._utils._rebuild_*, storage classes) and throws for anything else.
// Containers map to JS: dict → Map, list/tuple → Array, set → Set, bytes → Uint8Array.

import { CheckpointFormatError, UnsafePickleError } from './errors.js';

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleValue, PickleValue>
  | Set<PickleValue>
  | PickleCallable
  | object;

/** What an allowed global stands for: a pure function of its (already unpickled) arguments. */
export interface PickleCallable {
  readonly pickleName: string;
  call(args: PickleValue[]): PickleValue;
}

export function isPickleCallable(v: unknown): v is PickleCallable {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as PickleCallable).call === 'function' &&
    'pickleName' in v
  );
}

export interface UnpickleOptions {
  /** Source path, for error messages. */
  path: string;
  /** Resolve `module.name`; must throw UnsafePickleError for anything not allowed. */
  findGlobal(module: string, name: string): PickleValue;
  /** Resolve a persistent id (torch uses these for storages). */
  persistentLoad?(pid: PickleValue): PickleValue;
}

export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): PickleValue {
  const { path } = opts;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder('utf-8');
  let pos = 0;
  let stack: PickleValue[] = []; // MARK saves the current stack on the metastack and starts a fresh one
  const metastack: PickleValue[][] = [];
  const memo = new Map<number, PickleValue>();

  const fail = (msg: string) => new CheckpointFormatError(path, `corrupted pickle: ${msg} (at byte ${pos})`);
  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.byteLength) throw fail('unexpected end of data');
  };
  /** Consume `n` bytes and return where they start. */
  const advance = (n: number) => {
    need(n);
    pos += n;
    return pos - n;
  };
  const u8 = () => bytes[advance(1)];
  const take = (n: number) => {
    const at = advance(n);
    return bytes.subarray(at, at + n);
  };
  const u16 = () => view.getUint16(advance(2), true);
  const u32 = () => view.getUint32(advance(4), true);
  const i32 = () => view.getInt32(advance(4), true);
  const u64 = () => {
    const n = view.getBigUint64(advance(8), true);
    if (n > BigInt(bytes.byteLength)) throw fail('length larger than the pickle');
    return Number(n);
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw fail('unterminated text argument');
    const s = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const push = (v: PickleValue) => stack.push(v);
  const pop = (): PickleValue => {
    if (stack.length === 0) throw fail('stack underflow');
    return stack.pop()!;
  };
  const top = (): PickleValue => {
    if (stack.length === 0) throw fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): PickleValue[] => {
    const items = stack;
    if (metastack.length === 0) throw fail('no MARK to pop to');
    stack = metastack.pop()!;
    return items;
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) throw fail(`memo entry ${i} is missing`);
    return memo.get(i)!;
  };
  const signedLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let n = 0n;
    for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) n -= 1n << BigInt(8 * b.length);
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  };
  const parseInt10 = (s: string): number | bigint => {
    const t = s.replace(/L$/, '');
    if (!/^[-+]?\d+$/.test(t)) throw fail(`bad integer ${JSON.stringify(s)}`);
    const n = BigInt(t);
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  };
  const callable = (f: PickleValue, what: string): PickleCallable => {
    if (!isPickleCallable(f)) throw fail(`${what} applied to something that is not an allowed callable`);
    return f;
  };
  const setItems = (target: PickleValue, kv: PickleValue[]) => {
    if (!(target instanceof Map)) throw fail('SETITEM on a non-dict');
    if (kv.length % 2 !== 0) throw fail('odd number of items for SETITEMS');
    for (let i = 0; i < kv.length; i += 2) target.set(kv[i], kv[i + 1]);
  };
  const global = (module: string, name: string) => {
    const v = opts.findGlobal(module, name);
    if (v === undefined) throw new UnsafePickleError(path, `${module}.${name}`);
    return v;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw fail('pickle protocol newer than 5');
        break;
      case 0x95: // FRAME: framing is only a buffering hint
        need(8);
        pos += 8;
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length === 0) throw fail('stack underflow');
        stack.pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
        push(signedLE(take(u8())));
        break;
      case 0x8b: // LONG4
        push(signedLE(take(u32())));
        break;
      case 0x49: {
        // INT (protocol 0); "I01"/"I00" are the old booleans
        const s = line();
        push(s === '01' ? true : s === '00' ? false : parseInt10(s));
        break;
      }
      case 0x4c: // LONG (protocol 0)
        push(parseInt10(line()));
        break;
      case 0x47: // BINFLOAT: big-endian double
        need(8);
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: {
        // FLOAT (protocol 0)
        const x = Number(line());
        if (Number.isNaN(x)) throw fail('bad float');
        push(x);
        break;
      }
      case 0x58: // BINUNICODE
        push(utf8.decode(take(u32())));
        break;
      case 0x56: // UNICODE (protocol 0): raw-unicode-escape text
        push(
          line().replace(
            /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
            (_, a: string | undefined, b: string | undefined) => String.fromCodePoint(parseInt(a ?? b!, 16)),
          ),
        );
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(utf8.decode(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        push(utf8.decode(take(u64())));
        break;
      case 0x54: // BINSTRING (Python 2 str)
        push(latin1.decode(take(i32())));
        break;
      case 0x55: // SHORT_BINSTRING
        push(latin1.decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        push(take(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        push([]);
        break;
      case 0x74: // TUPLE
        push(popMark());
        break;
      case 0x85: // TUPLE1
        push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push([pop(), b, c]);
        break;
      }
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) throw fail('APPEND to a non-list');
        list.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw fail('APPENDS to a non-list');
        for (const v of items) list.push(v);
        break;
      }
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x64: {
        // DICT
        const m = new Map<PickleValue, PickleValue>();
        setItems(m, popMark());
        push(m);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      case 0x8f: // EMPTY_SET
        push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) throw fail('ADDITEMS to a non-set');
        for (const v of items) s.add(v);
        break;
      }
      case 0x91: // FROZENSET
        push(new Set(popMark()));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: // PUT
        memo.set(Number(parseInt10(line())), top());
        break;
      case 0x68: // BINGET
        push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(u32()));
        break;
      case 0x67: // GET
        push(memoGet(Number(parseInt10(line()))));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        push(global(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          throw fail('STACK_GLOBAL needs two strings');
        push(global(module, name));
        break;
      }
      case 0x69: {
        // INST "module\nname\n": construct from the items after MARK
        const module = line();
        const cls = global(module, line());
        push(callable(cls, 'INST').call(popMark()));
        break;
      }
      case 0x6f: {
        // OBJ: MARK cls args...
        const items = popMark();
        if (items.length === 0) throw fail('OBJ without a class');
        push(callable(items[0], 'OBJ').call(items.slice(1)));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const f = pop();
        if (!Array.isArray(args)) throw fail('REDUCE arguments are not a tuple');
        push(callable(f, 'REDUCE').call(args));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args)) throw fail('NEWOBJ arguments are not a tuple');
        push(callable(cls, 'NEWOBJ').call(args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args) || !(kwargs instanceof Map) || kwargs.size > 0)
          throw fail('NEWOBJ_EX with keyword arguments');
        push(callable(cls, 'NEWOBJ_EX').call(args));
        break;
      }
      case 0x62: {
        // BUILD: __setstate__; allowed objects carry no state we need (e.g. a state dict's _metadata)
        pop();
        top();
        break;
      }
      case 0x51: // BINPERSID
        if (!opts.persistentLoad) throw fail('persistent id without a loader');
        push(opts.persistentLoad(pop()));
        break;
      case 0x50: // PERSID (protocol 0)
        if (!opts.persistentLoad) throw fail('persistent id without a loader');
        push(opts.persistentLoad(line()));
        break;
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        throw new UnsafePickleError(path, `copyreg extension code (opcode 0x${op.toString(16)})`);
      default:
        throw fail(`unsupported opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}
