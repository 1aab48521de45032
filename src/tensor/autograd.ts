/** Reverse-mode autodiff over the recorded graph; rules come from the typed table in grad-rules.ts. */
import { getBackend } from './backend.js';
import { GradError } from './errors.js';
import type { OpAttrs, OpName } from './op-names.js';
import { isGradEnabled, keep, noGrad } from './scope.js';
import { sameShape, shapeStr } from './shape.js';
import { Tensor, type Node } from './tensor.js';

/** Returns one gradient per input (null where the input gets none). Runs under noGrad. */
export type GradRule<K extends OpName> = (node: Node<K>, dy: Tensor, out: Tensor) => (Tensor | null)[];
export type GradTable = { [K in OpName]: GradRule<K> | 'not-differentiable' };

let table: GradTable | null = null;

export function installGradTable(t: GradTable): void {
  table = t;
}

/** Attaches a node to `out` when grad mode is on and any input requires a gradient. */
export function record<K extends OpName>(
  op: K,
  inputs: Tensor[],
  attrs: OpAttrs[K],
  out: Tensor,
  saved: Tensor[] = [],
  extra?: Record<string, number>,
): Tensor {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, attrs, saved, extra };
  }
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<number>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root.id);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i];
      if (next.requiresGrad && !seen.has(next.id)) {
        seen.add(next.id);
        stack.push([next, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order;
}

/**
 * Accumulates d(root)/d(leaf) into `leaf.grad` for every leaf that requires a gradient.
 * `root` must be a scalar unless `seed` (dL/droot) is given.
 */
export function backward(root: Tensor, seed?: Tensor): void {
  if (!table) throw new GradError('no gradient table installed (import the package entry point first)');
  const rules = table;
  if (!root.requiresGrad) {
    throw new GradError(`${root} does not require a gradient: no parameter took part in computing it`);
  }
  if (!seed && root.size !== 1) {
    throw new GradError(`backward() of a non-scalar ${root} needs an explicit seed gradient`);
  }
  noGrad(() => {
    const grads = new Map<number, Tensor>();
    // How many entries of `grads` hold each gradient tensor (a rule may hand one to several inputs):
    // an intermediate gradient is released as soon as nothing holds it, not when the scope ends.
    const held = new Map<Tensor, number>();
    const hold = (id: number, g: Tensor) => {
      grads.set(id, g);
      held.set(g, (held.get(g) ?? 0) + 1);
    };
    const drop = (id: number, g: Tensor) => {
      grads.delete(id);
      const n = (held.get(g) ?? 1) - 1;
      if (n > 0) held.set(g, n);
      else {
        held.delete(g);
        if (g !== seed) g.dispose();
      }
    };
    hold(root.id, seed ?? Tensor.full(root.shape, 1, root.dtype));
    const order = topoOrder(root);
    for (let n = order.length - 1; n >= 0; n--) {
      const t = order[n];
      const dy = grads.get(t.id);
      if (!dy) continue;
      const node = t.node;
      if (!node) {
        // the leaf's .grad may be dy itself: leave dy to the scope
        accumulateLeaf(t, dy);
        grads.delete(t.id);
        continue;
      }
      const rule = rules[node.op];
      if (rule === 'not-differentiable') {
        throw new GradError(`op '${node.op}' is not differentiable but a gradient flowed into it`);
      }
      const inputGrads = (rule as GradRule<OpName>)(node, dy, t);
      node.inputs.forEach((input, i) => {
        const g = inputGrads[i];
        if (!g || !input.requiresGrad) return;
        if (!sameShape(g.shape, input.shape)) {
          throw new GradError(
            `gradient rule of '${node.op}' gave ${shapeStr(g.shape)} for input ${shapeStr(input.shape)}`,
          );
        }
        const prev = grads.get(input.id);
        if (!prev) return hold(input.id, g);
        const sum = getBackend().binary('add', prev, g);
        drop(input.id, prev);
        hold(input.id, sum);
        // g is summed away unless something else still holds it
        const only = inputGrads.indexOf(g) === i && inputGrads.lastIndexOf(g) === i;
        if (only && g !== dy && g !== seed && !held.has(g)) g.dispose();
      });
      drop(t.id, dy);
    }
  });
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  const b = getBackend();
  if (!leaf.grad) {
    leaf.grad = keep(b.contiguous(g.dtype === leaf.dtype ? g : b.cast(g, leaf.dtype)));
    return;
  }
  const sum = keep(b.binary('add', leaf.grad, g));
  leaf.grad.dispose();
  leaf.grad = sum;
}

/** Clears `.grad` of the given tensors (returning their buffers to the pool). */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}
