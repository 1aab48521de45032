/**
 * MiniCPM (SPEC.md §1): a Llama-style decoder with pre-RMSNorm, rotate-half RoPE, SwiGLU, GQA and a
 * tied head, plus three μP multipliers. Parameters keep their Hugging Face names verbatim.
 */
import { chunkedHeadLoss, headBlockRows } from '../nn/chunked-head-loss.js';
import { ropeTables, type RopeSpec } from '../nn/rope-tables.js';
import { normal } from '../nn/init.js';
import {
  attention,
  checkpoint,
  crossEntropy,
  embedding,
  isGradEnabled,
  linear,
  linears,
  mulScalar,
  reshape,
  residualNorm,
  type ResidualNorm,
  rmsNorm,
  rope,
  Rng,
  scope,
  swiglu,
  Tensor,
  type Replayable,
} from '../tensor/index.js';
import { multipliers, widthMultiplier, type MiniCPMConfig } from './config.js';
import type { KVCache, KVCacheDtype } from './kv-cache.js';
import type { PackedAttention } from './packed-attention.js';

export const PROJ = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

/** Every parameter name and shape of a config, in checkpoint order. */
export function parameterShapes(c: MiniCPMConfig): Map<string, number[]> {
  const d = c.hiddenSize;
  const qd = c.numHeads * c.headDim;
  const kvd = c.numKvHeads * c.headDim;
  const m = new Map<string, number[]>([['model.embed_tokens.weight', [c.vocabSize, d]]]);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}`;
    m.set(`${p}.input_layernorm.weight`, [d]);
    m.set(`${p}.self_attn.q_proj.weight`, [qd, d]);
    m.set(`${p}.self_attn.k_proj.weight`, [kvd, d]);
    m.set(`${p}.self_attn.v_proj.weight`, [kvd, d]);
    m.set(`${p}.self_attn.o_proj.weight`, [d, qd]);
    m.set(`${p}.post_attention_layernorm.weight`, [d]);
    m.set(`${p}.mlp.gate_proj.weight`, [c.intermediateSize, d]);
    m.set(`${p}.mlp.up_proj.weight`, [c.intermediateSize, d]);
    m.set(`${p}.mlp.down_proj.weight`, [d, c.intermediateSize]);
  }
  m.set('model.norm.weight', [d]);
  if (!c.tieWordEmbeddings) m.set('lm_head.weight', [c.vocabSize, d]);
  return m;
}

/** Observes named activations during a forward pass (e.g. the μP coordinate check). */
export type ActivationProbe = (name: string, t: Tensor) => void;

/** The linear layers of a decoder layer that read the same input, in the order they run. */
export const LINEAR_GROUPS = {
  qkv: ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'],
  o: ['self_attn.o_proj'],
  gate_up: ['mlp.gate_proj', 'mlp.up_proj'],
  down: ['mlp.down_proj'],
} as const;
export type LinearGroup = keyof typeof LINEAR_GROUPS;

/** Observes the input [B, T, in] of each group of linear layers (e.g. GPTQ's calibration Hessians). */
export type LinearInputHook = (layer: number, group: LinearGroup, x: Tensor) => void;

/** Adds to a linear layer's output y = x·Wᵀ (e.g. a LoRA adapter); `module` is e.g. model.layers.0.mlp.up_proj. */
export type LinearAdapter = (module: string, x: Tensor, y: Tensor) => Tensor;

/**
 * Runs linear layers whose weights are not parameters (int4/int8 ones, quant/qlinear.ts): the outputs of
 * `modules` (all sharing x), or null when they are not all its own. The head is the module `lm_head`.
 */
export interface LinearRunner {
  run(x: Tensor, modules: readonly string[]): Tensor[] | null;
  /** Token embeddings [.., d] from its own table (an int8 one), or null to use the parameter. */
  embed?(ids: Tensor): Tensor | null;
  /**
   * Decoder layer `step.layer` for one token of a batch-1 cache as one kernel call, with the same values
   * as the per-op layer (the quantized runner's fused layer); null where it does not apply, and then
   * nothing was written.
   */
  decodeLayer?(step: DecodeLayerStep): ResidualNorm | null;
  /** Every decoder layer in turn for one token of a batch-1 cache as one kernel call; null as above. */
  decodeLayers?(step: DecodeStackStep): ResidualNorm | null;
  /** The whole token, first norm to logits [1, 1, V], as one kernel call; null as above. */
  decodeToken?(step: DecodeTokenStep): Tensor | null;
}

/** One token of one sequence through every decoder layer (LinearRunner.decodeLayers). */
export interface DecodeStackStep {
  config: MiniCPMConfig;
  /** The scaled embedding [1, 1, d] and its first input norm. */
  x: Tensor;
  xn: Tensor;
  /** Per layer: the post-attention norm's gain, and the next norm's (the final norm's after the last). */
  postGains: Tensor[];
  nextGains: Tensor[];
  cache: KVCache;
  cos: Tensor;
  sin: Tensor;
}

/**
 * One token of one sequence from its scaled embedding `x` to its logits (LinearRunner.decodeToken): the
 * first input norm, every layer as in DecodeStackStep, the logit scale and the head.
 */
export interface DecodeTokenStep extends Omit<DecodeStackStep, 'xn'> {
  /** The first layer's input norm gain. */
  firstGain: Tensor;
  /** What the final norm is multiplied by before the head (1 / the logit divisor). */
  logitScale: number;
}

/** One token of one sequence through decoder layer `layer` (LinearRunner.decodeLayer). */
export interface DecodeLayerStep {
  config: MiniCPMConfig;
  layer: number;
  /** The residual stream [1, 1, d] and its input norm. */
  x: Tensor;
  xn: Tensor;
  /** The post-attention norm's gain, and the next norm's (the next layer's input norm, or the final one). */
  postGain: Tensor;
  nextGain: Tensor;
  /** Appended to at its current length (the token's position). */
  cache: KVCache;
  /** RoPE tables [.., D/2] covering that position. */
  cos: Tensor;
  sin: Tensor;
}

export class MiniCPM {
  probe: ActivationProbe | null = null;
  linearInputs: LinearInputHook | null = null;
  adapter: LinearAdapter | null = null;
  linearRunner: LinearRunner | null = null;
  /** Storage of the KV caches the engine makes for this model when a caller names none (eval --kv-cache). */
  kvCacheDtype: KVCacheDtype = 'f32';
  /**
   * Training keeps only each decoder layer's input and recomputes the layer during backward
   * (tensor/checkpoint.ts); `replay` lists the random streams a layer draws from (LoRA dropout).
   */
  checkpointLayers: { replay: Replayable[] } | null = null;
  private rope: { cos: Tensor; sin: Tensor; positions: number; dynamicLen: number } | null = null;

  constructor(
    readonly config: MiniCPMConfig,
    /** Hugging Face name → parameter tensor. */
    readonly params: Map<string, Tensor>,
  ) {}

  /** μP initialisation: hidden matrices N(0, init_std/√m), embedding (and head) N(0, init_std), gains 1. */
  static init(config: MiniCPMConfig, rng: Rng): MiniCPM {
    const params = new Map<string, Tensor>();
    const hiddenStd = config.initStd / Math.sqrt(widthMultiplier(config));
    for (const [name, shape] of parameterShapes(config)) {
      let t: Tensor;
      if (shape.length === 1) t = Tensor.ones(shape);
      else if (PROJ.some((p) => name.endsWith(`${p}.weight`))) t = normal(rng, shape, hiddenStd);
      else t = normal(rng, shape, config.initStd);
      params.set(name, Tensor.parameter(t, name));
    }
    return new MiniCPM(config, params);
  }

  p(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`model has no parameter "${name}"`);
    return t;
  }

  parameters(): Tensor[] {
    return [...this.params.values()];
  }

  /** Output head: the raw tied embedding unless the config unties it. */
  head(): Tensor {
    return this.config.tieWordEmbeddings ? this.p('model.embed_tokens.weight') : this.p('lm_head.weight');
  }

  private ropeFor(positions: number): { cos: Tensor; sin: Tensor } {
    const c = this.config;
    const spec: RopeSpec = {
      headDim: c.headDim,
      theta: c.ropeTheta,
      maxPositionEmbeddings: c.maxPositionEmbeddings,
      scaling: c.ropeScaling,
    };
    // Dynamic NTK enlarges the base with the sequence length, so past max_position_embeddings the
    // tables are rebuilt for each length; otherwise one table grows by doubling.
    const dynamicLen =
      c.ropeScaling?.type === 'dynamic' && positions > c.maxPositionEmbeddings ? positions : 0;
    const r = this.rope;
    if (r && r.dynamicLen === dynamicLen && positions <= r.positions) return r;
    r?.cos.dispose();
    r?.sin.dispose();
    const size = dynamicLen || Math.max(positions, 2 * (r?.positions ?? 0), 64);
    this.rope = { ...ropeTables(spec, size, dynamicLen || 1), positions: size, dynamicLen };
    return this.rope;
  }

  private attentionBlock(
    l: number,
    h: Tensor,
    pos: number,
    cache?: KVCache,
    mask?: Tensor,
    packed?: PackedAttention,
  ): Tensor {
    const c = this.config;
    const [B, T] = h.shape;
    const a = `model.layers.${l}.self_attn`;
    const { cos, sin } = this.ropeFor(packed ? packed.positions : pos + T);
    this.linearInputs?.(l, 'qkv', h);
    const [hq, hk, hv] = this.project(h, [`${a}.q_proj`, `${a}.k_proj`, `${a}.v_proj`]);
    let q = reshape(hq, [B, T, c.numHeads, c.headDim]); // (B, T, Hq, D)
    let k = reshape(hk, [B, T, c.numKvHeads, c.headDim]); // (B, T, Hkv, D)
    const v = reshape(hv, [B, T, c.numKvHeads, c.headDim]);
    let heads: Tensor; // (B, T, Hq, D)
    if (packed) {
      // independent sequences packed along T: each gets its own positions and cache
      heads = packed.attend(l, q, k, v, (x, at) => rope(x, cos, sin, at));
    } else {
      // one token: RoPE, the KV append and attention in one fused call where the backend has it
      const fused =
        cache && T === 1 && !mask && !isGradEnabled() ? cache.attendDecode(l, q, k, v, cos, sin) : null;
      if (fused) heads = fused;
      else {
        q = rope(q, cos, sin, pos);
        k = rope(k, cos, sin, pos);
        // appends k/v (B, T, Hkv, D) and attends over all pos+T cached positions (int8 caches in place)
        heads = cache
          ? cache.attend(l, q, k, v, { causal: true, qOffset: pos, mask })
          : attention(q, k, v, { causal: true, qOffset: pos, mask });
      }
    }
    const o = reshape(heads, [B, T, c.numHeads * c.headDim]);
    this.linearInputs?.(l, 'o', o);
    return this.project(o, [`${a}.o_proj`])[0]; // (B, T, d)
  }

  private mlpBlock(l: number, h: Tensor): Tensor {
    const m = `model.layers.${l}.mlp`;
    this.linearInputs?.(l, 'gate_up', h);
    const [gate, up] = this.project(h, [`${m}.gate_proj`, `${m}.up_proj`]); // (B, T, d_ff)
    const act = swiglu(gate, up);
    this.linearInputs?.(l, 'down', act);
    return this.project(act, [`${m}.down_proj`])[0]; // (B, T, d)
  }

  /** Every decoder linear runs through here: x · Wᵀ for each module sharing x, then the adapter. */
  private project(x: Tensor, modules: readonly string[]): Tensor[] {
    const ys =
      this.linearRunner?.run(x, modules) ??
      linears(
        x,
        modules.map((m) => this.p(`${m}.weight`)),
      );
    const adapter = this.adapter;
    return adapter ? ys.map((y, i) => adapter(modules[i], x, y)) : ys;
  }

  /**
   * Final hidden states [B, T, d] (before the head) for ids [B, T]. `mask` is an optional additive
   * attention mask broadcastable to [B, 1, T, S] (e.g. hiding left padding), applied with the causal one.
   */
  /** Scaled token embeddings [B, T, d] for ids [B, T] (the decoder's input). */
  embed(ids: Tensor): Tensor {
    const mult = multipliers(this.config);
    const x = this.linearRunner?.embed?.(ids) ?? embedding(this.p('model.embed_tokens.weight'), ids); // (B, T, d)
    return mult.embedding !== 1 ? mulScalar(x, mult.embedding) : x;
  }

  /** Decoder layer `l` on x [B, T, d] whose first position is `pos` (appends to `cache` when given). */
  decoderLayer(
    l: number,
    x: Tensor,
    pos: number,
    cache?: KVCache,
    mask?: Tensor,
    packed?: PackedAttention,
  ): Tensor {
    const xn = rmsNorm(x, this.p(`model.layers.${l}.input_layernorm.weight`), this.config.rmsNormEps);
    return this.layerStep(l, x, xn, pos, null, cache, mask, packed).sum;
  }

  /**
   * Decoder layer `l` on x with its input norm xn given; `nextGain` also returns the next norm of the
   * output (the next layer's input norm, or the final one) from the same fused pass as the residual.
   */
  private layerStep(
    l: number,
    x: Tensor,
    xn: Tensor,
    pos: number,
    nextGain: Tensor | null,
    cache?: KVCache,
    mask?: Tensor,
    packed?: PackedAttention,
  ): ResidualNorm {
    const c = this.config;
    const mult = multipliers(c);
    const attn = this.attentionBlock(l, xn, pos, cache, mask, packed);
    // x + s·attn and the next norm as one pass where the backend fuses them (the same values as
    // mulScalar, add and rmsNorm: tensor/ops-residual.ts)
    const gain = this.p(`model.layers.${l}.post_attention_layernorm.weight`);
    const r = residualNorm(x, attn, mult.residual, gain, c.rmsNormEps);
    return residualNorm(r.sum, this.mlpBlock(l, r.norm!), mult.residual, nextGain, c.rmsNormEps);
  }

  /** The gains the fused decode takes, per layer (names built once). */
  private gainNames: { post: string[]; next: string[] } | null = null;

  /** What the fused stack and token take besides their input: the gains, the cache, the RoPE tables. */
  private stackStep(cache: KVCache): Omit<DecodeStackStep, 'x' | 'xn'> {
    const c = this.config;
    const L = c.numLayers;
    const names = (this.gainNames ??= {
      post: Array.from({ length: L }, (_, l) => `model.layers.${l}.post_attention_layernorm.weight`),
      next: Array.from({ length: L }, (_, l) =>
        l + 1 < L ? `model.layers.${l + 1}.input_layernorm.weight` : 'model.norm.weight',
      ),
    });
    const { cos, sin } = this.ropeFor(cache.length + 1);
    return {
      config: c,
      postGains: names.post.map((n) => this.p(n)),
      nextGains: names.next.map((n) => this.p(n)),
      cache,
      cos,
      sin,
    };
  }

  /** Every layer for one token through the runner's fused stack, or null where it does not apply. */
  private decodeLayersFused(x: Tensor, xn: Tensor, cache: KVCache): ResidualNorm | null {
    return this.linearRunner!.decodeLayers!({ ...this.stackStep(cache), x, xn });
  }

  /**
   * Logits for one token through the runner's fused token (embedding x in, released on success, and
   * the cache advanced), or null, x untouched, where it does not apply.
   */
  private decodeTokenFused(x: Tensor, cache: KVCache): Tensor | null {
    const logits = this.linearRunner!.decodeToken!({
      ...this.stackStep(cache),
      x,
      firstGain: this.p('model.layers.0.input_layernorm.weight'),
      logitScale: 1 / multipliers(this.config).logitDivisor,
    });
    if (!logits) return null;
    cache.advance(1);
    x.dispose();
    return logits;
  }

  /**
   * Whether a step may run through the runner's fused decode (one token of one sequence, a cache, and
   * nothing watching, adapting or differentiating the layers).
   */
  private fusedDecode(
    ids: Tensor,
    cache?: KVCache,
    mask?: Tensor,
    packed?: PackedAttention,
  ): cache is KVCache {
    const [B, T] = ids.shape;
    return (
      !!cache &&
      !packed &&
      !mask &&
      B === 1 &&
      T === 1 &&
      !isGradEnabled() &&
      !this.probe &&
      !this.linearInputs &&
      !this.adapter
    );
  }

  /** Layer l for one token through the runner's fused layer, or null where it does not apply. */
  private decodeLayerFused(
    l: number,
    x: Tensor,
    xn: Tensor,
    nextGain: Tensor,
    cache: KVCache,
  ): ResidualNorm | null {
    const { cos, sin } = this.ropeFor(cache.length + 1);
    return this.linearRunner!.decodeLayer!({
      config: this.config,
      layer: l,
      x,
      xn,
      postGain: this.p(`model.layers.${l}.post_attention_layernorm.weight`),
      nextGain,
      cache,
      cos,
      sin,
    });
  }

  /** `packed`: ids [1, N] are several sequences packed along T (see packed-attention.ts); no `cache`. */
  hidden(ids: Tensor, cache?: KVCache, mask?: Tensor, packed?: PackedAttention): Tensor {
    const x = this.embed(ids);
    this.probe?.('embedding', x);
    return this.hiddenFrom(x, ids, cache, mask, packed);
  }

  /** hidden() from the embedding x of ids (released as the layers consume it where nothing watches). */
  private hiddenFrom(
    x: Tensor,
    ids: Tensor,
    cache?: KVCache,
    mask?: Tensor,
    packed?: PackedAttention,
  ): Tensor {
    const c = this.config;
    const pos = cache?.length ?? 0;
    // KV caches append and hooks watch activations: a recomputed layer would do either twice
    const ck = !cache && !packed && !this.probe && !this.linearInputs ? this.checkpointLayers : null;
    // Inference (no autograd): each layer runs in its own scope, so its intermediates go back to the
    // buffer pool before the next layer asks for the same shapes, and the previous layer's output is
    // released once consumed. A prefill then holds one layer's activations (and first-touches their
    // pages once) instead of all L layers' until the caller's scope ends. Hooks may hold on to what
    // they see, so with a probe or linearInputs hook the outputs are left to the caller's scope.
    const reuse = !ck && !isGradEnabled();
    const release = reuse && !this.probe && !this.linearInputs;
    // there, each layer's last residual also gives the next norm (the next layer's input norm, the
    // final norm after the last layer) from the same fused pass: one op fewer per layer
    let xn: Tensor | null = null;
    // one token of one sequence with nothing watching or adapting the layers: the runner may run each
    // layer as one kernel call (LinearRunner.decodeLayer)
    const fusedStep = this.fusedDecode(ids, cache, mask, packed) && !!this.linearRunner?.decodeLayer;
    if (fusedStep && cache && this.linearRunner?.decodeLayers) {
      // all layers in one call where the runner has it; else layer by layer below, from this norm
      const xl = x;
      xn = rmsNorm(x, this.p('model.layers.0.input_layernorm.weight'), c.rmsNormEps);
      const all = this.decodeLayersFused(x, xn, cache);
      if (all) {
        cache.advance(1);
        xl.dispose();
        xn.dispose();
        all.sum.dispose();
        return all.norm!;
      }
    }
    for (let l = 0; l < c.numLayers; l++) {
      if (ck) x = checkpoint((xl) => this.decoderLayer(l, xl, pos, undefined, mask, packed), x, ck.replay);
      else if (reuse) {
        const xl = x;
        const xnl: Tensor | null = xn;
        const next = this.p(
          l + 1 < c.numLayers ? `model.layers.${l + 1}.input_layernorm.weight` : 'model.norm.weight',
        );
        const r = scope((): ResidualNorm => {
          const xin: Tensor =
            xnl ?? rmsNorm(xl, this.p(`model.layers.${l}.input_layernorm.weight`), c.rmsNormEps);
          const fused = fusedStep && cache ? this.decodeLayerFused(l, xl, xin, next, cache) : null;
          return fused ?? this.layerStep(l, xl, xin, pos, next, cache, mask, packed);
        });
        x = r.sum;
        xn = r.norm;
        if (release) {
          xl.dispose();
          xnl?.dispose();
        }
      } else x = this.decoderLayer(l, x, pos, cache, mask, packed);
      this.probe?.(`layer ${l}`, x);
    }
    cache?.advance(ids.shape[1]);
    if (xn) {
      if (release) x.dispose();
      return xn;
    }
    return rmsNorm(x, this.p('model.norm.weight'), c.rmsNormEps);
  }

  /** Logits [B, T, V]; the 1/m logit scale is applied to h before the head (same product, fewer flops). */
  logitsFromHidden(h: Tensor): Tensor {
    const div = multipliers(this.config).logitDivisor;
    const hs = div === 1 ? h : mulScalar(h, 1 / div);
    return this.linearRunner?.run(hs, ['lm_head'])?.[0] ?? linear(hs, this.head());
  }

  forward(ids: Tensor, cache?: KVCache, mask?: Tensor): Tensor {
    // a decode step the runner takes whole, embedding to logits, in one call (LinearRunner.decodeToken)
    if (this.fusedDecode(ids, cache, mask) && this.linearRunner?.decodeToken) {
      const x = this.embed(ids);
      return this.decodeTokenFused(x, cache) ?? this.logitsFromHidden(this.hiddenFrom(x, ids, cache, mask));
    }
    const logits = this.logitsFromHidden(this.hidden(ids, cache, mask));
    this.probe?.('logits', logits);
    return logits;
  }

  /** Mean next-token cross-entropy; targets [B, T] i32 with −100 ignored. */
  loss(ids: Tensor, targets: Tensor): Tensor {
    const V = this.config.vocabSize;
    const c = this.config;
    const head = this.params.get(c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
    // A frozen head over many logits (LoRA on a real vocabulary): a block of rows at a time.
    if (isGradEnabled() && !this.probe && ids.size * V > 2 ** 24 && !head?.requiresGrad) {
      const h = this.hidden(ids);
      if (h.requiresGrad)
        return chunkedHeadLoss(
          reshape(h, [-1, c.hiddenSize]),
          reshape(targets, [-1]),
          (rows) => this.logitsFromHidden(rows),
          headBlockRows(V),
        );
      return crossEntropy(reshape(this.logitsFromHidden(h), [-1, V]), reshape(targets, [-1]));
    }
    const logits = this.forward(ids);
    return crossEntropy(reshape(logits, [-1, V]), reshape(targets, [-1]));
  }
}
