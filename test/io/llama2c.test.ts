// llama2.c checkpoints: the real stories260K model read as a Hugging Face Llama (q/k rows permuted to
// rotate-half) gives the logits of a direct transcription of llama2.c's run.c forward pass (adjacent-pair
// RoPE on the raw file), and malformed files are rejected.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { CheckpointFormatError, readLlama2c, saveFolder } from '../../src/io/index.js';
import { loadModel } from '../../src/models/load.js';
import { noGrad, Tensor } from '../../src/tensor/index.js';
import { tempDir } from './helpers.js';

useBackend('auto');
const FILE = path.resolve(__dirname, '../../../shared/fixtures/llama2c/stories260K.bin');
const have = fs.existsSync(FILE);

/** run.c's forward pass, token by token with its own KV cache, on the raw weights. */
function runC(file: string, tokens: number[]): Float32Array[] {
  const buf = fs.readFileSync(file);
  const h = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 28));
  const [dim, hidden, L, H, KV, V] = [h[0], h[1], h[2], h[3], h[4], Math.abs(h[5])];
  const w = new Float32Array(buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + buf.length));
  const hs = dim / H;
  const kvd = KV * hs;
  let at = 0;
  const take = (n: number) => w.subarray(at, (at += n));
  const emb = take(V * dim);
  const rmsAtt = take(L * dim);
  const wq = take(L * dim * dim);
  const wk = take(L * kvd * dim);
  const wv = take(L * kvd * dim);
  const wo = take(L * dim * dim);
  const rmsFfn = take(L * dim);
  const w1 = take(L * hidden * dim);
  const w2 = take(L * dim * hidden);
  const w3 = take(L * hidden * dim);
  const rmsFinal = take(dim);
  const matvec = (m: Float32Array, off: number, x: Float32Array, rows: number, cols: number) => {
    const y = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += m[off + r * cols + c] * x[c];
      y[r] = s;
    }
    return y;
  };
  const rmsnorm = (x: Float32Array, g: Float32Array, off: number) => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const inv = 1 / Math.sqrt(ss / x.length + 1e-5);
    return x.map((v, i) => v * inv * g[off + i]);
  };
  const keys: Float32Array[][] = Array.from({ length: L }, () => []);
  const vals: Float32Array[][] = Array.from({ length: L }, () => []);
  const out: Float32Array[] = [];
  tokens.forEach((tok, pos) => {
    let x = emb.slice(tok * dim, (tok + 1) * dim);
    for (let l = 0; l < L; l++) {
      const xb = rmsnorm(x, rmsAtt, l * dim);
      const q = matvec(wq, l * dim * dim, xb, dim, dim);
      const k = matvec(wk, l * kvd * dim, xb, kvd, dim);
      const v = matvec(wv, l * kvd * dim, xb, kvd, dim);
      for (let i = 0; i < dim; i += 2) {
        const freq = 1 / Math.pow(10000, (i % hs) / hs);
        const [c, s] = [Math.cos(pos * freq), Math.sin(pos * freq)];
        for (const t of i < kvd ? [q, k] : [q]) {
          const [a, b] = [t[i], t[i + 1]];
          t[i] = a * c - b * s;
          t[i + 1] = a * s + b * c;
        }
      }
      keys[l].push(k);
      vals[l].push(v);
      const att = new Float32Array(dim);
      for (let hd = 0; hd < H; hd++) {
        const kvh = Math.floor(hd / (H / KV));
        const sc = keys[l].map((kk) => {
          let d = 0;
          for (let i = 0; i < hs; i++) d += q[hd * hs + i] * kk[kvh * hs + i];
          return d / Math.sqrt(hs);
        });
        const mx = Math.max(...sc);
        const e = sc.map((s) => Math.exp(s - mx));
        const z = e.reduce((p, c) => p + c, 0);
        vals[l].forEach((vv, t) => {
          for (let i = 0; i < hs; i++) att[hd * hs + i] += (e[t] / z) * vv[kvh * hs + i];
        });
      }
      const o = matvec(wo, l * dim * dim, att, dim, dim);
      x = x.map((v, i) => v + o[i]);
      const xb2 = rmsnorm(x, rmsFfn, l * dim);
      const g = matvec(w1, l * hidden * dim, xb2, hidden, dim);
      const u = matvec(w3, l * hidden * dim, xb2, hidden, dim);
      const hb = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]);
      const d = matvec(w2, l * dim * hidden, hb, dim, hidden);
      x = x.map((v, i) => v + d[i]);
    }
    out.push(matvec(emb, 0, rmsnorm(x, rmsFinal, 0), V, dim));
  });
  return out;
}

describe.skipIf(!have)('llama2.c checkpoints (stories260K)', () => {
  it('reads as a Hugging Face Llama whose logits equal run.c', async () => {
    const ckpt = readLlama2c(FILE);
    expect(ckpt.header).toMatchObject({
      dim: 64,
      hiddenDim: 172,
      numLayers: 5,
      numHeads: 8,
      numKvHeads: 4,
      vocabSize: 512,
    });
    const dir = path.join(tempDir('llama2c'), 'stories260K');
    await saveFolder(dir, { config: ckpt.config, tensors: ckpt.tensors });
    const model = await loadModel(dir);
    const tokens = [1, 403, 407, 261, 378, 365, 372, 261, 429, 306, 283, 432, 447, 400];
    const want = runC(FILE, tokens);
    const got = noGrad(() =>
      model.forward(Tensor.from(Int32Array.from(tokens), [1, tokens.length], 'i32')),
    ).toArray();
    let err = 0;
    want.forEach((row, t) => row.forEach((v, i) => (err = Math.max(err, Math.abs(v - got[t * 512 + i])))));
    expect(err).toBeLessThan(1e-4);
    expect(Math.max(...want[0].map(Math.abs))).toBeGreaterThan(1); // a trained model, not zeros
  });

  it('rejects truncated files and impossible headers', () => {
    const dir = tempDir('llama2c');
    const cut = path.join(dir, 'cut.bin');
    fs.writeFileSync(cut, fs.readFileSync(FILE).subarray(0, 5000));
    expect(() => readLlama2c(cut)).toThrow(/has 1056540 bytes, the file has 5000/);
    const bad = path.join(dir, 'bad.bin');
    fs.writeFileSync(bad, new Uint8Array(new Int32Array([64, 172, 5, 7, 4, 512, 512]).buffer));
    expect(() => readLlama2c(bad)).toThrow(CheckpointFormatError);
    const tiny = path.join(dir, 'tiny.bin');
    fs.writeFileSync(tiny, new Uint8Array(8));
    expect(() => readLlama2c(tiny)).toThrow(/too short/);
  });
});
