/** The fuzz worker: reads one case with its target's reader and says how it ended. */
import { parentPort } from 'node:worker_threads';
import { setSeedDir, TARGETS } from './targets.js';

const BUILTIN = new Set<unknown>([
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  URIError,
  EvalError,
  AggregateError,
]);

export interface CaseOutcome {
  kind: 'ok' | 'typed' | 'untyped';
  name?: string;
  message?: string;
  stack?: string;
}

/** Typed: an instance of one of our error classes (a subclass of Error, never Error or a built-in itself). */
function classify(e: unknown): CaseOutcome {
  if (e instanceof Error && !BUILTIN.has(Object.getPrototypeOf(e).constructor))
    return { kind: 'typed', name: e.name, message: e.message.slice(0, 300) };
  const err = e instanceof Error ? e : new Error(String(e));
  return { kind: 'untyped', name: err.name, message: err.message.slice(0, 500), stack: err.stack };
}

parentPort!.on('message', (m: { target: string; path: string; seedDir: string }) => {
  setSeedDir(m.seedDir);
  const t = TARGETS.find((x) => x.name === m.target)!;
  t.read(m.path).then(
    () => parentPort!.postMessage({ kind: 'ok' } satisfies CaseOutcome),
    (e: unknown) => parentPort!.postMessage(classify(e)),
  );
});
