/**
 * The code-execution sandboxes (bwrap, and the unshare fallback) against hostile programs: each is
 * contained, scored as a failure, and nothing outside its folder is touched. A sandbox that does not work
 * here (tool missing, user namespaces forbidden by the kernel) has its tests skipped with a message saying
 * so; the runner then refuses code tasks unless unsafe execution is allowed, which the last test checks.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runPython, sandboxWorks, setSandbox, type ExecResult } from '../../src/eval/code-exec.js';

const KINDS = ['bwrap', 'unshare'] as const;

/** A folder that stands in for the user's files: world-writable, outside the program's folder and /tmp. */
let victim = '';
let canary = '';
const base = fs.existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir();

beforeAll(() => {
  victim = fs.mkdtempSync(path.join(base, 'minicpm-victim-'));
  fs.chmodSync(victim, 0o777);
  canary = path.join(victim, 'canary.txt');
  fs.writeFileSync(canary, 'precious');
  fs.chmodSync(canary, 0o666);
});
afterAll(() => fs.rmSync(victim, { recursive: true, force: true }));

/** Failed because of the program (not because the sandbox could not start, which would prove nothing). */
const programFailed = (r: ExecResult): void => {
  expect(r.passed).toBe(false);
  expect(r.error ?? '').not.toMatch(/^(bwrap|unshare|setpriv|sandbox): /m);
};

const intact = (): void => {
  expect(fs.readFileSync(canary, 'utf8')).toBe('precious');
  expect(fs.readdirSync(victim)).toEqual(['canary.txt']);
};

for (const kind of KINDS) {
  const works = sandboxWorks(kind);
  if (!works)
    console.warn(
      `code-exec tests: the ${kind} sandbox does not work here (not installed, or user namespaces forbidden); skipping its tests`,
    );
  describe.skipIf(!works)(
    `sandboxed code execution (${kind}${works ? '' : ': not available here, skipped'})`,
    () => {
      beforeAll(() => setSandbox(kind));
      afterAll(() => setSandbox('auto'));

      it('runs an honest program, and its folder is writable', () => {
        const r = runPython('open("out.txt", "w").write("ok")\nassert open("out.txt").read() == "ok"\n');
        expect(r).toEqual({ passed: true, status: 'passed' });
      });

      it('contains a fork bomb', () => {
        const t0 = performance.now();
        const r = runPython(
          'import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n',
          2000,
        );
        programFailed(r);
        expect(performance.now() - t0).toBeLessThan(10_000);
        // nothing of it is left running: a fresh program still starts and passes
        expect(runPython('print(1)').passed).toBe(true);
      });

      it('cannot delete files outside its folder (rm -rf on a folder of the user)', () => {
        const r = runPython(
          `import shutil, subprocess, sys\nsubprocess.run(["rm", "-rf", ${JSON.stringify(victim)}])\nshutil.rmtree(${JSON.stringify(victim)})\n`,
        );
        programFailed(r);
        intact();
      });

      it('cannot delete the home folder it sees, nor the real one', () => {
        const home = os.homedir();
        const before = fs.readdirSync(home).length;
        const r = runPython(
          `import os, shutil\nshutil.rmtree(os.path.expanduser("~"))\nshutil.rmtree(${JSON.stringify(home)})\n`,
        );
        programFailed(r);
        expect(fs.readdirSync(home).length).toBe(before);
      });

      it('cannot write outside its folder', () => {
        const r = runPython(
          `open(${JSON.stringify(canary)}, "w").write("pwned")\nopen(${JSON.stringify(path.join(victim, 'new.txt'))}, "w").write("x")\n`,
        );
        programFailed(r);
        expect(r.error).toMatch(/Read-only file system|Permission denied/);
        intact();
      });

      it("has no network: not even this machine's loopback", async () => {
        let connections = 0;
        const server = net.createServer((s) => {
          connections++;
          s.destroy();
        });
        await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
        const port = (server.address() as net.AddressInfo).port;
        const r = runPython(
          `import socket\ns = socket.create_connection(("127.0.0.1", ${port}), timeout=1)\ns2 = socket.create_connection(("1.1.1.1", 80), timeout=1)\n`,
        );
        await new Promise((ok) => setTimeout(ok, 100));
        server.close();
        programFailed(r);
        expect(connections).toBe(0);
      });

      it('cannot allocate 20 GB', () => {
        const r = runPython('x = bytearray(20 * 1024**3)\nprint(len(x))\n');
        programFailed(r);
        expect(r.error).toMatch(/MemoryError/);
      });

      it('stops endless output', () => {
        const t0 = performance.now();
        const r = runPython('while True:\n    print("spam" * 1000)\n', 5000);
        expect(r).toEqual({ passed: false, status: 'output-limit' });
        expect(performance.now() - t0).toBeLessThan(5000);
      });

      it('stops an endless loop at the time limit', () => {
        expect(runPython('while True:\n    pass\n', 500).status).toBe('timeout');
      });
    },
  );
}

describe.skipIf(!sandboxWorks('unshare'))('the unshare fallback', () => {
  it('is chosen where bwrap is missing', async () => {
    // a PATH with every tool but bwrap
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-nobwrap-'));
    fs.chmodSync(bin, 0o755); // the program's own user looks its tools up here too
    const saved = process.env.PATH;
    try {
      for (const dir of (saved ?? '').split(':'))
        for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : [])
          if (name !== 'bwrap' && !fs.existsSync(path.join(bin, name)))
            fs.symlinkSync(path.join(dir, name), path.join(bin, name));
      process.env.PATH = bin;
      vi.resetModules();
      const fresh = await import('../../src/eval/code-exec.js');
      expect(fresh.sandboxKind()).toBe('unshare');
      expect(fresh.runPython('print(1)')).toEqual({ passed: true, status: 'passed' });
      const w = fresh.runPython(`open(${JSON.stringify(canary)}, "w").write("pwned")\n`);
      expect(w.error).toMatch(/Read-only file system/);
      intact();
    } finally {
      process.env.PATH = saved;
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });
});

describe('without a sandbox', () => {
  it('refuses code tasks unless unsafe execution is allowed', async () => {
    const saved = { PATH: process.env.PATH, MINICPM_PYTHON: process.env.MINICPM_PYTHON };
    const py = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => fs.existsSync(p));
    // a fresh instance of the module that finds no bwrap on PATH
    process.env.PATH = '/nonexistent';
    if (py) process.env.MINICPM_PYTHON = py;
    try {
      vi.resetModules();
      const fresh = await import('../../src/eval/code-exec.js');
      expect(fresh.sandboxKind()).toBe('none');
      expect(() => fresh.runPython('print(1)')).toThrow(/no sandbox works here.*--unsafe-exec/);
      if (py) {
        fresh.setUnsafeExec(true);
        expect(fresh.runPython('print(1)').passed).toBe(true);
      }
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.MINICPM_PYTHON === undefined) delete process.env.MINICPM_PYTHON;
      else process.env.MINICPM_PYTHON = saved.MINICPM_PYTHON;
    }
  });
});
