/**
 * Prometheus metrics for /metrics through prom-client: requests by route and status, prompt and
 * generated tokens, time to first token, per-request decode speed, and (read from the scheduler at
 * scrape time) queue depth, slots in use, KV reserved and prefix-cache hits. One registry per server,
 * so tests and several servers in one process do not collide.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Scheduler } from './scheduler.js';

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'status'>;
  readonly promptTokens: Counter;
  readonly generatedTokens: Counter;
  readonly ttft: Histogram;
  readonly decodeRate: Histogram;

  constructor(scheduler: Scheduler, defaults = false) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'minicpm_requests_total',
      help: 'HTTP requests answered, by route and status code',
      labelNames: ['route', 'status'],
      registers,
    });
    this.promptTokens = new Counter({
      name: 'minicpm_prompt_tokens_total',
      help: 'Prompt tokens processed',
      registers,
    });
    this.generatedTokens = new Counter({
      name: 'minicpm_generated_tokens_total',
      help: 'Tokens generated',
      registers,
    });
    this.ttft = new Histogram({
      name: 'minicpm_time_to_first_token_seconds',
      help: 'From a completion entering the scheduler to its first token',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.decodeRate = new Histogram({
      name: 'minicpm_decode_tokens_per_second',
      help: 'Per completion: tokens after the first over the time since the first',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers,
    });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge('minicpm_queue_depth', 'Requests waiting for a slot', () => scheduler.stats().queued);
    gauge('minicpm_slots_in_use', 'Sequences running', () => scheduler.stats().active);
    gauge('minicpm_slots', 'Slots (--parallel)', () => scheduler.parallel);
    gauge(
      'minicpm_kv_reserved_positions',
      'KV positions reserved by running sequences',
      () => scheduler.stats().kvReserved,
    );
    gauge('minicpm_kv_budget_positions', 'KV positions allowed (--kv-budget)', () => scheduler.kvBudget);
    gauge(
      'minicpm_prefix_cache_positions',
      'KV positions held by the prefix cache',
      () => scheduler.stats().prefixTokens,
    );
    gauge(
      'minicpm_prefix_cache_hits',
      'Prompts that reused a cached prefix',
      () => scheduler.stats().prefixHits,
    );
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }

  /** Times one completion: call `token()` on every token, `end()` once. */
  completion(promptTokens: number): { token(): void; end(): void } {
    this.promptTokens.inc(promptTokens);
    const start = performance.now();
    let first = 0;
    let n = 0;
    return {
      token: () => {
        n++;
        this.generatedTokens.inc();
        if (n === 1) {
          first = performance.now();
          this.ttft.observe((first - start) / 1000);
        }
      },
      end: () => {
        if (n > 1) this.decodeRate.observe((n - 1) / ((performance.now() - first) / 1000));
      },
    };
  }
}
