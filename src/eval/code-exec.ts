/**
 * Running generated code against its tests (SPEC §8: "code is executed with the tests in a subprocess,
 * 3 s limit, pass@1"). Each program runs in its own temporary folder with a fresh `python3`, the time
 * limit enforced by killing the process; a program passes when it exits 0.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EvalError } from './errors.js';

export interface ExecResult {
  passed: boolean;
  /** 'passed' | 'failed' | 'timeout'. */
  status: string;
  /** The tail of stderr, for the records. */
  error?: string;
}

let python: string | null | undefined;

/** The Python interpreter, found once; a clear error when there is none. */
export function pythonCommand(): string {
  if (python === undefined) {
    python = null;
    for (const cmd of [process.env.MINICPM_PYTHON, 'python3', 'python'].filter(Boolean) as string[]) {
      const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
      if (r.status === 0) {
        python = cmd;
        break;
      }
    }
  }
  if (!python)
    throw new EvalError(
      'code tasks run Python: install python3 (apt-get install python3) or set MINICPM_PYTHON',
    );
  return python;
}

export function runPython(program: string, timeoutMs = 3000): ExecResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-code-'));
  try {
    const file = path.join(dir, 'program.py');
    fs.writeFileSync(file, program);
    const r = spawnSync(pythonCommand(), [file], {
      cwd: dir,
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', PYTHONDONTWRITEBYTECODE: '1', PYTHONHASHSEED: '0' },
      maxBuffer: 1 << 20,
    });
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT')
      return { passed: false, status: 'timeout' };
    if (r.signal) return { passed: false, status: 'timeout' };
    return r.status === 0
      ? { passed: true, status: 'passed' }
      : { passed: false, status: 'failed', error: (r.stderr ?? '').slice(-500) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
