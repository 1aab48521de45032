/**
 * The two sides of an infer-bench row as decoders that take turns: ours (a MiniCPM with a KV cache) and
 * llama.cpp (node-llama-cpp on our GGUF export), prefill once, then greedy single-token steps a chunk
 * at a time, so both see the same share of the memory bandwidth other tenants leave.
 */
import { argmaxLast } from '../../src/engine/argmax.js';
import { KVCache, type KVCacheDtype } from '../../src/models/kv-cache.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { cast, noGrad, scope, slice, Tensor } from '../../src/tensor/index.js';
import { sleep } from '../lib/machine.js';

/** Threads on both sides. */
export const THREADS = 2;

/** One model generating greedily after a prompt, so that ours and the peer can take turns. */
export interface Decoder {
  /** Seconds to evaluate the whole prompt (logits of the last position only). */
  prefill(): Promise<number>;
  /** Seconds for the next `n` single-token steps. */
  steps(n: number): Promise<number>;
  dispose(): Promise<void>;
}

export function oursDecoder(model: MiniCPM, prompt: number[], nDecode: number, kv: KVCacheDtype): Decoder {
  const c = model.config;
  const cache = new KVCache(c.numLayers, 1, c.numKvHeads, c.headDim, prompt.length + nDecode + 8, kv);
  let next = -1;
  return {
    prefill: () =>
      Promise.resolve(
        noGrad(() => {
          const t0 = performance.now();
          next = scope(() => {
            const h = model.hidden(Tensor.from(Int32Array.from(prompt), [1, prompt.length], 'i32'), cache);
            return argmaxLast(model.logitsFromHidden(slice(h, 1, prompt.length - 1, prompt.length)));
          });
          return (performance.now() - t0) / 1000;
        }),
      ),
    steps: (n) =>
      Promise.resolve(
        noGrad(() => {
          const t0 = performance.now();
          for (let i = 0; i < n; i++)
            next = scope(() =>
              argmaxLast(model.forward(Tensor.from(Int32Array.of(next), [1, 1], 'i32'), cache)),
            );
          return (performance.now() - t0) / 1000;
        }),
      ),
    dispose: () => Promise.resolve(cache.dispose()),
  };
}

export type Nlc = typeof import('node-llama-cpp');
export type Llama = Awaited<ReturnType<Nlc['getLlama']>>;

/** llama.cpp on our exported GGUF: the prompt in one batch, then greedy tokens pulled one at a time. */
export async function peerDecoder(
  llama: Llama,
  file: string,
  prompt: number[],
  nDecode: number,
): Promise<Decoder> {
  const model = await llama.loadModel({ modelPath: file, useMmap: true });
  const ctx = await model.createContext({
    contextSize: prompt.length + nDecode + 64,
    batchSize: prompt.length,
    threads: THREADS,
  });
  const seq = ctx.getSequence();
  type Tokens = Parameters<typeof seq.evaluateWithoutGeneratingNewTokens>[0];
  // warm the weights into the page cache, then start over
  await seq.evaluateWithoutGeneratingNewTokens(prompt.slice(0, 8) as unknown as Tokens);
  await seq.clearHistory();
  let tokens: AsyncGenerator<unknown> | undefined;
  return {
    async prefill() {
      const t0 = performance.now();
      await seq.evaluateWithoutGeneratingNewTokens(prompt as unknown as Tokens);
      return (performance.now() - t0) / 1000;
    },
    async steps(n) {
      // the generator evaluates one token per next(): the first step evaluates the last prompt
      // token's successor, as our first decode step does
      tokens ??= seq.evaluate([prompt[prompt.length - 1]] as unknown as Tokens, { temperature: 0 });
      const t0 = performance.now();
      for (let i = 0; i < n; i++) if ((await tokens.next()).done) throw new Error('llama.cpp stopped early');
      return (performance.now() - t0) / 1000;
    },
    async dispose() {
      await tokens?.return(undefined);
      await ctx.dispose();
      await model.dispose();
    },
  };
}

export interface PairedPass {
  ours: { prefillS: number; decodeS: number };
  peer: { prefillS: number; decodeS: number } | null;
}

/**
 * Ours and the peer on the same prompt, taking turns: prefills back to back, then decode in chunks
 * of `chunk` tokens, alternating which goes first, so that both see the same share of the memory
 * bandwidth other tenants leave (it drifts by 2x within minutes here). `beforeDecode` runs between the
 * prefills and the decode (the infer bench's bandwidth probe).
 */
export async function pairedPass(
  ours: Decoder,
  peer: Decoder | null,
  nDecode: number,
  chunk: number,
  flip: boolean,
  beforeDecode: () => Promise<void> = () => Promise.resolve(),
): Promise<PairedPass> {
  // between the two sides too, not only between pairs: whoever goes second would otherwise start while
  // the first one's threads may still spin (ours do for ~80 µs after a call) on the same 2 CPUs
  const pair = async (f: (d: Decoder) => Promise<number>): Promise<[number, number]> => {
    let o = 0,
      p = 0;
    if (flip && peer) {
      p = await f(peer);
      await sleep(20);
    }
    o = await f(ours);
    if (!flip && peer) {
      await sleep(20);
      p = await f(peer);
    }
    return [o, p];
  };
  const [oPre, pPre] = await pair((d) => d.prefill());
  await beforeDecode();
  let oDec = 0,
    pDec = 0;
  for (let done = 0, i = 0; done < nDecode; done += chunk, i++) {
    const n = Math.min(chunk, nDecode - done);
    await sleep(20); // let the other side's spinning threads go to sleep (see pair)
    const [o, p] = await pair((d) => d.steps(n));
    oDec += o;
    pDec += p;
    flip = !flip;
  }
  return { ours: { prefillS: oPre, decodeS: oDec }, peer: peer ? { prefillS: pPre, decodeS: pDec } : null };
}

/** The same model with every 2-D weight stored bf16 (f32 activations; GEMMs through vdpbf16ps). */
export function bf16Copy(m: MiniCPM): MiniCPM {
  const params = new Map<string, Tensor>();
  for (const [n, t] of m.params) params.set(n, t.rank === 2 ? noGrad(() => cast(t, 'bf16')).keep() : t);
  return new MiniCPM(m.config, params);
}
