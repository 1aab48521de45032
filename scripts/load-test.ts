/**
 * Load test of the OpenAI-compatible server, loopback only and bounded in clients and time:
 *
 *   node --import tsx scripts/load-test.ts [--url http://127.0.0.1:8080/v1 | --model DIR | --random]
 *        [--clients 32] [--seconds 120] [--disconnect 0.2] [--max-tokens 64] [--parallel 8] [--api-key K]
 *
 * `--clients` streaming chat clients loop for `--seconds`; a `--disconnect` fraction of requests hang up
 * mid-stream. Reports p50/p99 time to first token, aggregate generated tokens/s, errors, refusals (503),
 * disconnects, the server's RSS over time, and whether every slot was given back at the end. With
 * `--model` or `--random` (a small random model) the server runs in this process on 127.0.0.1. Exits 1
 * on errors, leaked slots or RSS growing by more than 15% after warm-up (a quarter of the run, ≥ 30 s).
 */
import type { AddressInfo } from 'node:net';
import { useBackend } from '../src/backends/index.js';
import { MiniCPM } from '../src/models/minicpm.js';
import { presetConfig } from '../src/models/presets.js';
import { loadAnyModel } from '../src/quant/index.js';
import { buildServer } from '../src/server/app.js';
import { GenerationService } from '../src/server/generation-service.js';
import { Rng } from '../src/tensor/index.js';
import { loadTokenizer } from '../src/tokenizer/index.js';
import { SentencePieceTokenizer } from '../src/tokenizer/sentencepiece.js';
import { trainBpe } from '../src/tokenizer/trainer.js';
import { trainedModelProto } from '../src/tokenizer/trainer-output.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const clients = Number(opt('clients', '32'));
const seconds = Number(opt('seconds', '120'));
const disconnect = Number(opt('disconnect', '0.2'));
const maxTokens = Number(opt('max-tokens', '64'));
const apiKey = opt('api-key', '');
if (!(clients >= 1 && clients <= 256 && seconds > 0 && seconds <= 1800))
  throw new Error('--clients must be in [1, 256] and --seconds in (0, 1800]');

const TEXT =
  'The sea was calm that night. Sailors told stories of distant lands, storms and stars. ' +
  '床前明月光，疑是地上霜。举头望明月，低头思故乡。 A quick brown fox jumps over the lazy dog.';

async function startLocal(): Promise<{
  url: string;
  rss: () => Promise<number>;
  close: () => Promise<void>;
}> {
  useBackend('auto');
  const parallel = Number(opt('parallel', '8'));
  let service: GenerationService;
  const dir = opt('model', '');
  if (dir) {
    const loaded = loadTokenizer(dir);
    service = new GenerationService(await loadAnyModel(dir), loaded.tokenizer, 'model', {
      chatTemplate: loaded.chatTemplate,
      parallel,
    });
  } else {
    const tok = SentencePieceTokenizer.fromProto(
      trainedModelProto(await trainBpe(TEXT.repeat(20), { vocabSize: 400 })),
    );
    const model = MiniCPM.init({ ...presetConfig('tiny', tok.vocabSize), numLayers: 4 }, new Rng(1));
    service = new GenerationService(model, tok, 'random', { parallel });
  }
  const app = buildServer(service, { apiKey: apiKey || undefined });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    rss: () => Promise.resolve(process.memoryUsage().rss),
    close: () => app.close(),
  };
}

function remote(url: string) {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host))
    throw new Error(`the load test only targets loopback servers, not ${host}`);
  const root = url.replace(/\/v1\/?$/, '');
  return {
    url,
    rss: async () => {
      const m = await (await fetch(`${root}/metrics`)).text();
      const line = m.split('\n').find((l) => l.startsWith('process_resident_memory_bytes '));
      return line ? Number(line.split(' ')[1]) : NaN;
    },
    close: () => Promise.resolve(),
  };
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};

async function main(): Promise<void> {
  const server = opt('url', '') ? remote(opt('url', '')) : await startLocal();
  const root = server.url.replace(/\/v1\/?$/, '');
  const headers = {
    'content-type': 'application/json',
    ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
  };
  const ttft: number[] = [];
  const stats = { requests: 0, tokens: 0, errors: 0, refused: 0, disconnects: 0 };
  const errors: string[] = [];
  const rss: [number, number][] = [];
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let seed = 1;

  const client = async (c: number) => {
    while (performance.now() < deadline) {
      const hangUp = Math.random() < disconnect;
      const abort = new AbortController();
      const t0 = performance.now();
      stats.requests++;
      try {
        const res = await fetch(`${server.url}/chat/completions`, {
          method: 'POST',
          headers,
          signal: abort.signal,
          body: JSON.stringify({
            messages: [{ role: 'user', content: `${c}: ${TEXT.slice(0, 40 + ((c * 7) % 80))}` }],
            max_tokens: maxTokens,
            temperature: 0.8,
            seed: seed++,
            stream: true,
            stream_options: { include_usage: true },
          }),
        });
        if (res.status === 503) {
          stats.refused++;
          await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get('retry-after') ?? 1)));
          continue;
        }
        if (!res.ok || !res.body) throw new Error(`status ${res.status}: ${await res.text()}`);
        let chunks = 0;
        let buffer = '';
        const decoder = new TextDecoder();
        for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(bytes, { stream: true });
          let cut: number;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const event = buffer.slice(0, cut).replace(/^data: /, '');
            buffer = buffer.slice(cut + 2);
            if (event === '[DONE]') continue;
            const chunk = JSON.parse(event) as {
              choices: { delta?: { content?: string } }[];
              usage?: { completion_tokens: number };
              error?: { message: string };
            };
            if (chunk.error) throw new Error(chunk.error.message);
            if (chunk.choices[0]?.delta?.content && chunks++ === 0) ttft.push(performance.now() - t0);
            if (chunk.usage) stats.tokens += chunk.usage.completion_tokens;
          }
          if (hangUp && chunks >= 3) {
            stats.disconnects++;
            abort.abort();
            break;
          }
        }
      } catch (e) {
        if (abort.signal.aborted) continue;
        stats.errors++;
        if (errors.length < 5) errors.push((e as Error).message);
      }
    }
  };

  const sampler = setInterval(() => {
    void server.rss().then((r) => rss.push([(performance.now() - start) / 1000, r]));
  }, 2000);
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  clearInterval(sampler);
  const elapsed = (performance.now() - start) / 1000;

  // every slot given back: the server goes idle once the last (possibly aborted) sequences end
  let health = { active: -1, queued: -1 };
  for (let i = 0; i < 50; i++) {
    health = (await (await fetch(`${root}/health`)).json()) as typeof health;
    if (health.active === 0 && health.queued === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await server.close();

  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
  // warm-up (JIT, heap sizing, the tensor pool filling with the recurring shapes) takes ~30 s
  const warm = Math.min(Math.max(seconds / 4, 30), seconds / 2);
  const base = rss.find(([t]) => t >= warm)?.[1] ?? rss[0]?.[1] ?? NaN;
  const last = rss.at(-1)?.[1] ?? NaN;
  const grew = last / base - 1;
  console.log(`${clients} clients for ${elapsed.toFixed(0)} s against ${server.url}`);
  console.log(
    `  requests ${stats.requests}, errors ${stats.errors}, refused (503) ${stats.refused}, disconnects ${stats.disconnects}`,
  );
  console.log(
    `  time to first token p50 ${quantile(ttft, 0.5).toFixed(0)} ms, p99 ${quantile(ttft, 0.99).toFixed(0)} ms`,
  );
  console.log(
    `  generated ${stats.tokens} tokens, ${(stats.tokens / elapsed).toFixed(1)} tokens/s aggregate`,
  );
  console.log(
    `  server RSS: ${rss.map(([t, r]) => `${t.toFixed(0)}s ${mb(r)}`).join(', ') || 'n/a'}` +
      (Number.isFinite(grew) ? ` (after ${warm.toFixed(0)} s of warm-up: ${(100 * grew).toFixed(1)}%)` : ''),
  );
  console.log(`  slots at the end: ${health.active} active, ${health.queued} queued`);
  for (const e of errors) console.log(`  error: ${e}`);
  const ok = stats.errors === 0 && health.active === 0 && health.queued === 0 && !(grew > 0.15);
  console.log(ok ? 'PASS' : 'FAIL');
  process.exit(ok ? 0 : 1);
}

await main();
