/** Scopes (see the memory rule in storage.ts) and the grad-mode switch. */
export interface Disposable {
  dispose(): void;
}

const scopes: Set<Disposable>[] = [];
let gradEnabled = true;

export function track(t: Disposable): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Removes tensors from every open scope so they outlive it (the caller now owns them). */
export function keep<T extends Disposable>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(value: unknown, out: Set<unknown>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 2) return;
  if (typeof (value as Disposable).dispose === 'function') out.add(value);
  else if (Array.isArray(value)) for (const v of value) collect(v, out, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value as Record<string, unknown>)) collect(v, out, depth + 1);
}

/**
 * Runs `fn` and disposes every tensor it created, except those reachable from its return value
 * (a tensor, or arrays/plain objects of tensors up to two levels deep), which move to the outer scope.
 */
export function scope<T>(fn: () => T): T {
  const mine = new Set<Disposable>();
  scopes.push(mine);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of mine) t.dispose();
    throw e;
  }
  scopes.pop();
  const returned = new Set<unknown>();
  collect(result, returned);
  const parent = scopes[scopes.length - 1];
  for (const t of mine) {
    if (returned.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` recording operations again (a checkpointed segment recomputed inside a gradient rule). */
export function withGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Runs `fn` without recording operations for autodiff (inference, optimizer updates, gradient rules). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}
