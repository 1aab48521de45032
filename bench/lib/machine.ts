/**
 * What every benchmark needs from the machine: medians, waiting for idle CPUs, compiling the C peer
 * programs in bench/peers, and the limit probes (bench/peers/limits.c) that turn a speed into a
 * fraction of this machine's measured peak. The machine is a shared VM: other tenants take CPU and,
 * above all, memory bandwidth (2-thread DRAM reads measured anywhere from ~25 to ~60 GB/s), so
 * benchmarks wait for idle CPUs, interleave ours and the peer, and report medians.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Compiled peer programs live here (ignored by git). */
export const benchCache = join(root, '.cache', 'bench');
const peers = join(root, 'bench', 'peers');

/** The median; the mean of the middle two for an even count; NaN for none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  if (!s.length) return NaN;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs a command to completion (10 min at most); never throws. */
export function runCommand(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): { ok: boolean; out: string; stdout: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 10 * 60_000 });
  return {
    ok: r.status === 0 && !r.error,
    out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error?.message ?? ''}`,
    stdout: r.stdout ?? '',
  };
}

/** Compiles bench/peers/<src> into .cache/bench/<out> unless it is up to date. */
export function compilePeer(src: string, out: string, flags: string[]): { ok: boolean; out: string } {
  const s = join(peers, src),
    o = join(benchCache, out);
  if (existsSync(o) && statSync(o).mtimeMs >= statSync(s).mtimeMs) return { ok: true, out: '' };
  mkdirSync(benchCache, { recursive: true });
  return runCommand('cc', ['-O2', s, '-o', o, ...flags]);
}

/** The busy fraction of all CPUs over `ms`, from /proc/stat. */
export async function busyFraction(ms = 500): Promise<number> {
  const sample = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  try {
    const a = sample();
    await sleep(ms);
    const b = sample();
    return 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);
  } catch {
    return 0; // not Linux: cannot tell
  }
}

/** Waits (up to maxS) until other processes use less than `threshold` of the CPUs; the last reading. */
export async function waitIdle(maxS: number, threshold = 0.12, sampleMs = 500): Promise<number> {
  const t0 = Date.now();
  let busy = await busyFraction(sampleMs);
  while (busy > threshold && Date.now() - t0 < maxS * 1000) {
    process.stdout.write(`\r  waiting for an idle machine (busy ${(busy * 100).toFixed(0)}%) ...   `);
    await sleep(2000);
    busy = await busyFraction(sampleMs);
  }
  if (Date.now() - t0 > 600) process.stdout.write('\n');
  return busy;
}

/**
 * The limit probes, compiled once; null when they cannot be built. Each call prints one number: the
 * best of a few short repeats (other processes can only slow a probe down):
 *   probe('fma', threads) fp32 GFLOP/s · probe('bf16', threads) vdpbf16ps GFLOP/s (0 without it) ·
 *   probe('read', threads, bytes) DRAM read GB/s over a buffer of that size.
 */
export function limitsProbe(): ((...args: string[]) => number) | null {
  const exe = limitsProgram();
  return exe ? (...args) => Number.parseFloat(runCommand(exe, args).stdout) : null;
}

/** bench/peers/limits.c compiled (once); null when it cannot be built. */
function limitsProgram(): string | null {
  const flags = ['-mavx2', '-mfma', '-lpthread', '-lm'];
  // AVX-512 probes need only the assembler; the program checks the CPU before using them
  let c = compilePeer('limits.c', 'limits', ['-mavx512f', '-mavx512bf16', ...flags]);
  if (!c.ok) c = compilePeer('limits.c', 'limits', flags);
  return c.ok ? join(benchCache, 'limits') : null;
}

/** The limit probes of limitsProbe, answered by a long-lived child; close() ends it. */
export interface ProbeServer {
  probe(...args: string[]): Promise<number>;
  close(): void;
}

/**
 * The same probes for a process that will grow large: start it while the process is still small. Each
 * limitsProbe call forks the caller (spawnSync), and a fork marks every private page copy-on-write, so
 * each page's first write afterwards faults: in a 5 GB infer bench that was ~20k faults, 0.26 s, on
 * the next 0.26 s W4 prefill's reused buffers. Here a shell started once runs the program per request
 * line, so the forks are the shell's. Null when the program cannot be built.
 */
export function limitsProbeServer(): ProbeServer | null {
  const exe = limitsProgram();
  if (!exe) return null;
  const child = spawn('sh', ['-c', `while read -r a; do "${exe}" $a || echo NaN; done`], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiting: ((v: number) => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.(Number.parseFloat(line)));
  child.on('exit', () => {
    for (const w of waiting.splice(0)) w(NaN);
  });
  return {
    probe: (...args) =>
      new Promise<number>((res) => {
        if (child.exitCode !== null || !child.stdin.writable) return res(NaN);
        waiting.push(res);
        child.stdin.write(`${args.join(' ')}\n`);
      }),
    close: () => child.stdin.end(),
  };
}
