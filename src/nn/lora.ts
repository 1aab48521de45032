/**
 * LoRA (Hu et al. 2021) as Hugging Face PEFT defines it: a frozen linear y = x·Wᵀ gains a trainable
 * low-rank update, y + s · B(A(dropout(x))), with A [r, in] kaiming-uniform(a=√5), B [out, r] zero (so
 * training starts from the base model exactly) and s = alpha/r, or alpha/√r with rsLoRA.
 */
import {
  add,
  isGradEnabled,
  linear,
  matmul,
  mul,
  mulScalar,
  noGrad,
  Rng,
  Tensor,
  type DType,
} from '../tensor/index.js';

/** The linear layers a LoRA can target, by PEFT's short module names. */
export const LORA_TARGETS = [
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'gate_proj',
  'up_proj',
  'down_proj',
] as const;

export interface LoraConfig {
  r: number;
  alpha: number;
  /** Probability of zeroing an adapter input element while training (0 disables). */
  dropout: number;
  /** Short module names (q_proj, …) whose linears get an adapter. */
  targets: string[];
  /** rsLoRA scaling alpha/√r instead of alpha/r. */
  rslora: boolean;
}

export class LoraError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoraError';
  }
}

export function loraScaling(c: LoraConfig): number {
  return c.rslora ? c.alpha / Math.sqrt(c.r) : c.alpha / c.r;
}

/** Rejects impossible settings with the flag to fix. */
export function checkLoraConfig(c: LoraConfig): void {
  if (!Number.isInteger(c.r) || c.r < 1)
    throw new LoraError(`LoRA rank r must be an integer ≥ 1, got ${c.r}`);
  if (!Number.isFinite(c.alpha) || c.alpha <= 0)
    throw new LoraError(`LoRA alpha must be a positive number, got ${c.alpha}`);
  if (!(c.dropout >= 0 && c.dropout < 1))
    throw new LoraError(`LoRA dropout must be in [0, 1), got ${c.dropout}`);
  if (!c.targets.length)
    throw new LoraError('LoRA needs at least one target module (targets=q_proj,v_proj,…)');
  const unknown = c.targets.filter((t) => !(LORA_TARGETS as readonly string[]).includes(t));
  if (unknown.length)
    throw new LoraError(
      `LoRA target(s) ${unknown.join(', ')} do not exist in MiniCPM: choose from ${LORA_TARGETS.join(', ')}`,
    );
}

/** `r=16,alpha=32,dropout=0.05,targets=q_proj,v_proj[,rslora]` (the --lora flag) → a checked config. */
export function parseLoraSpec(spec: string): LoraConfig {
  const c: LoraConfig = { r: 8, alpha: 16, dropout: 0, targets: ['q_proj', 'v_proj'], rslora: false };
  let key: string | null = null;
  const targets: string[] = [];
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    // A bare word continues the targets list, except the rslora switch.
    if (eq < 0) {
      if (part === 'rslora') c.rslora = true;
      else if (key === 'targets') targets.push(part);
      else
        throw new LoraError(`--lora: "${part}" is not key=value (keys: r, alpha, dropout, targets, rslora)`);
      continue;
    }
    key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    const n = Number(value);
    if (key === 'targets') targets.push(value);
    else if (key === 'rslora') c.rslora = value === 'true' || value === '1';
    else if (key === 'r' || key === 'alpha' || key === 'dropout') {
      if (value === '' || !Number.isFinite(n)) throw new LoraError(`--lora: ${key}=${value} is not a number`);
      c[key] = n;
    } else throw new LoraError(`--lora: unknown key "${key}" (keys: r, alpha, dropout, targets, rslora)`);
  }
  if (targets.length) c.targets = targets;
  checkLoraConfig(c);
  return c;
}

/** One adapted linear: A [r, in], B [out, r]. */
export interface LoraPair {
  A: Tensor;
  B: Tensor;
}

/**
 * The adapters of a model, keyed by module path (model.layers.3.self_attn.q_proj). Dropout is active
 * only while gradients are recorded (training), as PEFT's module is in train() mode; its mask stream
 * comes from `rng`, whose state travels with checkpoints so that a resumed run draws the same masks.
 */
export class LoraAdapters {
  readonly scaling: number;
  enabled = true;

  constructor(
    readonly config: LoraConfig,
    readonly modules: Map<string, LoraPair>,
    readonly rng = new Rng(0),
  ) {
    checkLoraConfig(config);
    this.scaling = loraScaling(config);
  }

  /**
   * Fresh adapters on every targeted module of `baseShapes` (module path → weight [out, in]): A from
   * U(−1/√in, 1/√in) — kaiming_uniform_(a=√5) has gain √(2/(1+5)) and bound gain·√(3/in) — B zero.
   */
  static init(
    config: LoraConfig,
    baseShapes: Map<string, readonly number[]>,
    rng: Rng,
    dtype: DType = 'f32',
  ): LoraAdapters {
    checkLoraConfig(config);
    const modules = new Map<string, LoraPair>();
    for (const [module, [out, inp]] of baseShapes) {
      if (!config.targets.includes(module.slice(module.lastIndexOf('.') + 1))) continue;
      const A = Tensor.empty([config.r, inp], dtype);
      const a = A.data as Float32Array | Float64Array;
      const bound = 1 / Math.sqrt(inp);
      for (let i = 0; i < a.length; i++) a[i] = (2 * rng.uniform() - 1) * bound;
      modules.set(module, {
        A: Tensor.parameter(A, `${module}.lora_A.weight`),
        B: Tensor.parameter(Tensor.zeros([out, config.r], dtype), `${module}.lora_B.weight`),
      });
    }
    if (!modules.size)
      throw new LoraError(`no linear layer matches the LoRA targets ${config.targets.join(', ')}`);
    return new LoraAdapters(config, modules, rng);
  }

  /** Trainable tensors, A then B per module, in module order. */
  parameters(): Tensor[] {
    return [...this.modules.values()].flatMap((p) => [p.A, p.B]);
  }

  /** Adds the update to y = x·Wᵀ of `module` (untouched when the module has no adapter). */
  apply(module: string, x: Tensor, y: Tensor): Tensor {
    const pair = this.enabled ? this.modules.get(module) : undefined;
    if (!pair) return y;
    const p = this.config.dropout;
    const xd = p > 0 && isGradEnabled() ? mul(x, this.dropoutMask(x.shape, p, x.dtype)) : x;
    // s is applied on the r-wide intermediate: the same product as PEFT's B(A(x))·s, r/out of the work.
    const h = mulScalar(linear(xd, pair.A), this.scaling); // (…, r)
    return add(y, linear(h, pair.B)); // (…, out)
  }

  /** Inverted dropout: each element kept with probability 1 − p and scaled by 1/(1 − p). */
  private dropoutMask(shape: readonly number[], p: number, dtype: DType): Tensor {
    const m = Tensor.empty(shape, dtype);
    const d = m.data as Float32Array | Float64Array;
    const cut = p * 4294967296;
    const keep = 1 / (1 - p);
    for (let i = 0; i < d.length; i++) d[i] = this.rng.nextU32() < cut ? 0 : keep;
    return m;
  }

  /** s·B·A [out, in] of one module: what merging adds to its base weight. */
  delta(module: string): Tensor {
    const pair = this.modules.get(module);
    if (!pair) throw new LoraError(`no adapter on ${module}`);
    return noGrad(() => mulScalar(matmul(pair.B, pair.A), this.scaling));
  }

  dispose(): void {
    for (const t of this.parameters()) t.dispose();
    this.modules.clear();
  }
}
