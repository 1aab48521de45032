/**
 * Running generated code against its tests (SPEC §8: "code is executed with the tests in a subprocess,
 * 3 s limit, pass@1"). The programs are model-written, so each runs in a sandbox:
 *
 *   bwrap (Debian `bubblewrap`): new user, PID, network, IPC and UTS namespaces (no network at all), the
 *   whole filesystem bound read-only, its own temporary folder the only writable place, a fresh /proc and
 *   a minimal /dev, no capabilities, killed with its parent;
 *   or, where bwrap is missing, util-linux `unshare` with the same namespaces: inside, the program's folder
 *   is bound onto itself and every other mount remounted read-only (a mount it cannot make read-only
 *   refuses the sandbox), then all capabilities are dropped (empty bounding set, no_new_privs) so the
 *   program cannot remount anything, and it is killed with its parent;
 *   prlimit: CPU seconds, address space, processes, file size, open files, no core dumps;
 *   the wall-clock limit kills the sandbox (and with its PID namespace every process in it); output past
 *   the limit kills it too.
 *
 * Run as root, the program runs as `nobody` (setpriv), because the kernel does not apply the process limit
 * to root. Where no sandbox works (neither bwrap nor unshare, or user namespaces disabled), code tasks are
 * refused unless the user allows unsandboxed execution (`--unsafe-exec`, MINICPM_UNSAFE_EXEC=1, or
 * setUnsafeExec(true)). MINICPM_SANDBOX=bwrap|unshare (or setSandbox) picks one; the default tries bwrap
 * first.
 * A program passes when it exits 0 within every limit.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EvalError } from './errors.js';

export interface ExecResult {
  passed: boolean;
  /** 'passed' | 'failed' | 'timeout' | 'output-limit'. */
  status: string;
  /** The tail of stderr, for the records. */
  error?: string;
}

export interface ExecLimits {
  /** Wall-clock limit (the CPU limit is this, rounded up to seconds, plus one). */
  timeoutMs: number;
  /** Address space of each process. */
  memoryBytes: number;
  /** Processes and threads of the user the program runs as. */
  processes: number;
  /** stdout and stderr each, and any file the program writes in its folder. */
  outputBytes: number;
}

export const EXEC_LIMITS: Readonly<ExecLimits> = Object.freeze({
  timeoutMs: 3000,
  memoryBytes: 1 << 30,
  processes: 32,
  outputBytes: 1 << 20,
});

/** Run as root, each program gets a user id of its own in this range (no passwd entry is needed). */
const UID_BASE = 200_000;
let runs = 0;
const freshUid = (): number => UID_BASE + ((process.pid * 1009 + runs++) % 60_000);
let unsafeAllowed = process.env.MINICPM_UNSAFE_EXEC === '1';

/** Allows running programs without a sandbox where none works (the `--unsafe-exec` flag). */
export function setUnsafeExec(on: boolean): void {
  unsafeAllowed = on;
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

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

const asRoot = (): boolean => process.getuid?.() === 0;

/** Processes (and threads' leaders) of a user now, from /proc. */
function processesOf(uid: number): number {
  let n = 0;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const m = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m && Number(m[1]) === uid) n++;
    } catch {
      // exited meanwhile
    }
  }
  return n;
}

/**
 * The command line that runs `argv` in folder `dir` inside the sandbox as user `uid` (root only), under
 * the limits. The wall-clock limit is enforced inside (coreutils `timeout`), so that the sandbox always
 * ends by itself and its PID namespace is torn down with it.
 */
function sandboxed(
  kind: SandboxTool,
  argv: string[],
  dir: string,
  limits: ExecLimits,
  uid: number,
): string[] {
  const seconds = (limits.timeoutMs / 1000).toFixed(3);
  const cpu = Math.ceil(limits.timeoutMs / 1000) + 1;
  // RLIMIT_NPROC counts every process of the user: as a user of its own, only the program's; as
  // ourselves, ours too
  const nproc = asRoot() ? limits.processes : processesOf(process.getuid?.() ?? 0) + limits.processes;
  const prlimit = [
    'prlimit',
    `--cpu=${cpu}`,
    `--as=${limits.memoryBytes}`,
    `--nproc=${nproc}`,
    `--fsize=${limits.outputBytes}`,
    '--nofile=256',
    '--core=0',
    '--',
  ];
  // RLIMIT_NPROC does not bind root: drop to a user of its own first (bwrap then needs no privilege)
  const user = asRoot() ? ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'] : [];
  const env = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: dir,
    TMPDIR: dir,
    LANG: 'C.UTF-8',
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONHASHSEED: '0',
  };
  const inner = ['timeout', '--signal=KILL', seconds, ...argv];
  if (kind === 'unshare') return [...prlimit, ...user, ...unshareSandbox(dir, env, inner)];
  const bwrap = [
    'bwrap',
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--bind',
    dir,
    dir,
    '--chdir',
    dir,
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--clearenv',
    ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
    '--',
  ];
  return [...prlimit, ...user, ...bwrap, ...inner];
}

/**
 * Run inside the new namespaces as their root, before the program: the folder becomes a mount of its own
 * (so it stays writable) and every other mount is remounted read-only; a mount that refuses stops the
 * sandbox with exit code 97 (the probe then finds no working unshare sandbox). `printf %b` decodes the
 * octal escapes of /proc/self/mounts (a space is \040).
 */
const UNSHARE_SETUP = [
  'dir="$1"; shift',
  'mount --make-rprivate / || exit 97',
  'mount --bind "$dir" "$dir" || exit 97',
  "for m in $(awk '{print $2}' /proc/self/mounts | sort -u); do",
  '  m=$(printf %b "$m")',
  '  [ "$m" = "$dir" ] && continue',
  '  mount -o remount,bind,ro "$m" 2>/dev/null || { echo "sandbox: cannot make $m read-only" >&2; exit 97; }',
  'done',
  'cd "$dir" || exit 97',
  'exec "$@"',
].join('\n');

/** The unshare sandbox around `inner`: namespaces, read-only mounts, then no capabilities and a clean environment. */
function unshareSandbox(dir: string, env: Record<string, string>, inner: string[]): string[] {
  return [
    'unshare',
    '--user',
    '--map-root-user',
    '--net',
    '--pid',
    '--fork',
    '--mount',
    '--ipc',
    '--uts',
    '--kill-child',
    '--mount-proc',
    '--',
    'sh',
    '-c',
    UNSHARE_SETUP,
    'minicpm-sandbox',
    dir,
    'setpriv',
    '--bounding-set=-all',
    '--inh-caps=-all',
    '--no-new-privs',
    '--',
    'env',
    '-i',
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    ...inner,
  ];
}

/** ROOT/work (the program's folder, its owner the program's user) beside ROOT/stdout and ROOT/stderr. */
function makeFolder(uid: number): { root: string; work: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-code-'));
  const work = path.join(root, 'work');
  fs.mkdirSync(work);
  if (asRoot()) {
    fs.chmodSync(root, 0o711); // the program's user may pass through to its folder, not list the rest
    fs.chownSync(work, uid, uid);
  }
  return { root, work };
}

type SandboxTool = 'bwrap' | 'unshare';

/** The interpreter that runs inside each sandbox, or null where that sandbox does not work here (probed once). */
const sandboxPython = new Map<SandboxTool, string | null>();
let chosen: SandboxTool | 'auto' =
  (['bwrap', 'unshare'] as const).find((k) => k === process.env.MINICPM_SANDBOX) ?? 'auto';

/** Picks the sandbox ('auto': bwrap where it works, else unshare). For tests and MINICPM_SANDBOX. */
export function setSandbox(kind: SandboxTool | 'auto'): void {
  chosen = kind;
}

function probe(kind: SandboxTool): string | null {
  const known = sandboxPython.get(kind);
  if (known !== undefined) return known;
  sandboxPython.set(kind, null);
  if (process.platform !== 'linux' || !which(kind) || !which('prlimit')) return null;
  if (kind === 'unshare' && (!which('setpriv') || !which('mount'))) return null;
  if (asRoot() && !which('setpriv')) return null;
  // The interpreter itself, not a shim (pyenv's live under a home `nobody` cannot read); then the system one.
  const candidates: string[] = [];
  try {
    const exe = spawnSync(pythonCommand(), ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
    if (exe.status === 0 && exe.stdout.trim()) candidates.push(exe.stdout.trim());
  } catch {
    // no Python on PATH: the system one may still serve
  }
  candidates.push('/usr/bin/python3');
  const uid = freshUid();
  const { root, work } = makeFolder(uid);
  try {
    for (const py of candidates) {
      const [cmd, ...args] = sandboxed(kind, [py, '-c', 'pass'], work, EXEC_LIMITS, uid);
      const r = spawnSync(cmd, args, { timeout: 10_000, killSignal: 'SIGKILL', stdio: 'ignore' });
      if (r.status === 0) {
        sandboxPython.set(kind, py);
        return py;
      }
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  return null;
}

/** The sandbox programs run in, with its interpreter, or null where none works. */
function activeSandbox(): { kind: SandboxTool; python: string } | null {
  for (const kind of chosen === 'auto' ? (['bwrap', 'unshare'] as const) : [chosen]) {
    const python = probe(kind);
    if (python) return { kind, python };
  }
  return null;
}

/** Whether a given sandbox works on this machine (user namespaces allowed, the tools installed). */
export function sandboxWorks(kind: SandboxTool): boolean {
  return probe(kind) !== null;
}

/** How programs run here: 'bwrap', 'unshare', or 'none' (refused unless unsafe execution is allowed). */
export function sandboxKind(): SandboxTool | 'none' {
  return activeSandbox()?.kind ?? 'none';
}

export function runPython(program: string, timeoutMs = 3000, limits: Partial<ExecLimits> = {}): ExecResult {
  const l: ExecLimits = { ...EXEC_LIMITS, ...limits, timeoutMs };
  const inside = activeSandbox();
  if (!inside && !unsafeAllowed)
    throw new EvalError(
      'code tasks run model-written programs, and no sandbox works here: install bubblewrap (apt-get install bubblewrap) or util-linux (unshare, prlimit, setpriv) with user namespaces enabled (sysctl user.max_user_namespaces > 0), or pass --unsafe-exec to run them with your own rights',
    );
  const uid = freshUid();
  const { root, work } = makeFolder(uid);
  const outFile = path.join(root, 'stdout');
  const errFile = path.join(root, 'stderr');
  try {
    const file = path.join(work, 'program.py');
    fs.writeFileSync(file, program, { mode: 0o644 });
    const argv = inside ? sandboxed(inside.kind, [inside.python, file], work, l, uid) : unsandboxed(file, l);
    // Output goes to files, where the file-size limit stops a flood inside the sandbox (SIGXFSZ).
    const out = fs.openSync(outFile, 'w');
    const err = fs.openSync(errFile, 'w');
    const t0 = performance.now();
    let r;
    try {
      r = spawnSync(argv[0], argv.slice(1), {
        cwd: work,
        // the sandbox stops itself at the limit; this only backs it up (and bounds unsafe runs)
        timeout: l.timeoutMs + (inside ? 5000 : 0),
        killSignal: 'SIGKILL',
        stdio: ['ignore', out, err],
        env: {
          PATH: process.env.PATH ?? '',
          HOME: work,
          TMPDIR: work,
          PYTHONDONTWRITEBYTECODE: '1',
          PYTHONHASHSEED: '0',
        },
      });
    } finally {
      fs.closeSync(out);
      fs.closeSync(err);
    }
    const elapsed = performance.now() - t0;
    const size = (f: string): number => fs.statSync(f).size;
    if (size(outFile) >= l.outputBytes || size(errFile) >= l.outputBytes)
      return { passed: false, status: 'output-limit' };
    // killed (the outer backstop, or SIGKILL/SIGXCPU inside: `timeout` reports 128 + signal) at the limit
    const killed = r.signal !== null || r.error !== undefined || (r.status !== null && r.status >= 128);
    if (killed && elapsed >= l.timeoutMs * 0.95) return { passed: false, status: 'timeout' };
    if (r.status === 0) return { passed: true, status: 'passed' };
    return { passed: false, status: 'failed', error: tail(errFile, 500) };
  } finally {
    removeFolder(root);
  }
}

/** `--unsafe-exec`: the program runs with the user's rights; only the resource limits still apply. */
function unsandboxed(file: string, l: ExecLimits): string[] {
  if (!which('prlimit')) return [pythonCommand(), file];
  const cpu = Math.ceil(l.timeoutMs / 1000) + 1;
  return [
    'prlimit',
    `--cpu=${cpu}`,
    `--as=${l.memoryBytes}`,
    `--fsize=${l.outputBytes}`,
    '--core=0',
    '--',
    pythonCommand(),
    file,
  ];
}

function tail(file: string, bytes: number): string {
  const fd = fs.openSync(file, 'r');
  try {
    const n = Math.min(bytes, fs.fstatSync(fd).size);
    const buf = Buffer.alloc(n);
    fs.readSync(fd, buf, 0, n, fs.fstatSync(fd).size - n);
    return buf.toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** Removes the program's folder, first making writable any folder the program locked (chmod 0). */
function removeFolder(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    const unlock = (d: string): void => {
      fs.chmodSync(d, 0o700);
      for (const e of fs.readdirSync(d, { withFileTypes: true }))
        if (e.isDirectory()) unlock(path.join(d, e.name));
    };
    unlock(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
