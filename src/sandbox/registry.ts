/**
 * The sandbox run registry: every study and every training run it launched, with status, resolved
 * spec, result and loss curve, in one SQLite file (better-sqlite3: synchronous, transactional, and
 * queryable with any SQLite tool). A study consults it to skip finished runs, so an interrupted study
 * resumes where it stopped; `minicpm sandbox list/show` read it.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export type RunStatus = 'pending' | 'running' | 'done' | 'diverged' | 'failed';

export interface RunRow {
  id: number;
  study: string;
  name: string;
  spec: Record<string, unknown>;
  status: RunStatus;
  result: Record<string, unknown> | null;
  runDir: string;
  started: string | null;
  finished: string | null;
  error: string | null;
}

export interface StudyRow {
  name: string;
  kind: string;
  options: Record<string, unknown>;
  status: 'running' | 'done' | 'failed';
  created: string;
  updated: string;
  report: string | null;
  summary: Record<string, unknown> | null;
}

export interface CurvePoint {
  step: number;
  tokens: number;
  loss: number;
  valLoss: number | null;
  lr: number;
}

export class RegistryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegistryError';
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS studies (
  name TEXT PRIMARY KEY, kind TEXT NOT NULL, options TEXT NOT NULL, status TEXT NOT NULL,
  created TEXT NOT NULL, updated TEXT NOT NULL, report TEXT, summary TEXT);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY, study TEXT NOT NULL REFERENCES studies(name), name TEXT NOT NULL,
  spec TEXT NOT NULL, status TEXT NOT NULL, result TEXT, run_dir TEXT NOT NULL,
  started TEXT, finished TEXT, error TEXT, UNIQUE(study, name));
CREATE TABLE IF NOT EXISTS points (
  run_id INTEGER NOT NULL REFERENCES runs(id), step INTEGER NOT NULL, tokens REAL NOT NULL,
  loss REAL NOT NULL, val_loss REAL, lr REAL NOT NULL, PRIMARY KEY(run_id, step));
CREATE INDEX IF NOT EXISTS runs_by_study ON runs(study, status);
`;

const now = (): string => new Date().toISOString();
const parse = <T>(s: string | null): T | null => (s === null ? null : (JSON.parse(s) as T));

/** Canonical JSON (sorted keys) so that equal specs compare equal as strings. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

interface RawRun {
  id: number;
  study: string;
  name: string;
  spec: string;
  status: RunStatus;
  result: string | null;
  run_dir: string;
  started: string | null;
  finished: string | null;
  error: string | null;
}

interface RawStudy {
  name: string;
  kind: string;
  options: string;
  status: StudyRow['status'];
  created: string;
  updated: string;
  report: string | null;
  summary: string | null;
}

const toRun = (r: RawRun): RunRow => ({
  id: r.id,
  study: r.study,
  name: r.name,
  spec: JSON.parse(r.spec) as Record<string, unknown>,
  status: r.status,
  result: parse(r.result),
  runDir: r.run_dir,
  started: r.started,
  finished: r.finished,
  error: r.error,
});

const toStudy = (r: RawStudy): StudyRow => ({
  name: r.name,
  kind: r.kind,
  options: JSON.parse(r.options) as Record<string, unknown>,
  status: r.status,
  created: r.created,
  updated: r.updated,
  report: r.report,
  summary: parse(r.summary),
});

export class Registry {
  readonly db: Database.Database;

  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    try {
      this.db = new Database(file);
      // WAL: a reader (`sandbox list` in another terminal) never blocks a running study.
      this.db.pragma('journal_mode = WAL');
      this.db.exec(SCHEMA);
    } catch (e) {
      throw new RegistryError(
        `cannot open the run registry ${file}: ${(e as Error).message} (is it an SQLite file from minicpm? move it away to start a new registry)`,
      );
    }
  }

  close(): void {
    this.db.close();
  }

  /** Creates the study, or checks that an existing one agrees on every option both know (and records new ones). */
  openStudy(name: string, kind: string, options: Record<string, unknown>): StudyRow {
    const existing = this.study(name);
    const json = canonicalJson(options);
    if (existing) {
      // settings added since the study began (a newer version's new stages) extend it; a changed
      // setting would make its recorded runs answer another question
      const changed = Object.keys(options).filter(
        (k) => k in existing.options && canonicalJson(existing.options[k]) !== canonicalJson(options[k]),
      );
      if (existing.kind !== kind || changed.length)
        throw new RegistryError(
          `study "${name}" already exists with other settings (${existing.kind} ${canonicalJson(existing.options)}); ` +
            'pass --name NEW to start another study, or --fresh to discard this one',
        );
      this.db
        .prepare('UPDATE studies SET status = ?, options = ?, updated = ? WHERE name = ?')
        .run('running', canonicalJson({ ...existing.options, ...options }), now(), name);
      return this.study(name)!;
    }
    const t = now();
    this.db
      .prepare(
        'INSERT INTO studies (name, kind, options, status, created, updated) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(name, kind, json, 'running', t, t);
    return this.study(name)!;
  }

  /** Removes a study and all its runs and points (the run folders are the caller's business). */
  dropStudy(name: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM points WHERE run_id IN (SELECT id FROM runs WHERE study = ?)').run(name);
      this.db.prepare('DELETE FROM runs WHERE study = ?').run(name);
      this.db.prepare('DELETE FROM studies WHERE name = ?').run(name);
    })();
  }

  finishStudy(name: string, status: StudyRow['status'], report: string | null, summary: unknown): void {
    this.db
      .prepare('UPDATE studies SET status = ?, updated = ?, report = ?, summary = ? WHERE name = ?')
      .run(status, now(), report, summary === undefined ? null : JSON.stringify(summary), name);
  }

  study(name: string): StudyRow | null {
    const r = this.db.prepare('SELECT * FROM studies WHERE name = ?').get(name) as RawStudy | undefined;
    return r ? toStudy(r) : null;
  }

  studies(): StudyRow[] {
    return (this.db.prepare('SELECT * FROM studies ORDER BY created').all() as RawStudy[]).map(toStudy);
  }

  /**
   * The run `name` of `study`, registered now if new. A run whose spec changed since it was
   * registered is an error: its folder and curve belong to the old spec.
   */
  ensureRun(study: string, name: string, spec: Record<string, unknown>, runDir: string): RunRow {
    const json = canonicalJson(spec);
    const got = this.run(study, name);
    if (got) {
      if (canonicalJson(got.spec) !== json)
        throw new RegistryError(
          `run "${name}" of study "${study}" was registered with another spec; pass --fresh to rerun the study`,
        );
      return got;
    }
    this.db
      .prepare('INSERT INTO runs (study, name, spec, status, run_dir) VALUES (?, ?, ?, ?, ?)')
      .run(study, name, json, 'pending', runDir);
    return this.run(study, name)!;
  }

  run(study: string, name: string): RunRow | null {
    const r = this.db.prepare('SELECT * FROM runs WHERE study = ? AND name = ?').get(study, name) as
      RawRun | undefined;
    return r ? toRun(r) : null;
  }

  runs(study: string): RunRow[] {
    return (this.db.prepare('SELECT * FROM runs WHERE study = ? ORDER BY id').all(study) as RawRun[]).map(
      toRun,
    );
  }

  countRuns(study: string): Record<RunStatus, number> {
    const out: Record<RunStatus, number> = { pending: 0, running: 0, done: 0, diverged: 0, failed: 0 };
    const rows = this.db
      .prepare('SELECT status, COUNT(*) AS n FROM runs WHERE study = ? GROUP BY status')
      .all(study) as { status: RunStatus; n: number }[];
    for (const r of rows) out[r.status] = r.n;
    return out;
  }

  markRunning(id: number): void {
    this.db
      .prepare('UPDATE runs SET status = ?, started = COALESCE(started, ?), error = NULL WHERE id = ?')
      .run('running', now(), id);
  }

  finishRun(id: number, status: RunStatus, result: unknown, error?: string): void {
    this.db
      .prepare('UPDATE runs SET status = ?, result = ?, finished = ?, error = ? WHERE id = ?')
      .run(status, JSON.stringify(result), now(), error ?? null, id);
  }

  /** Records curve points; re-recording a step (after a resume) replaces it. */
  addPoints(runId: number, pts: CurvePoint[]): void {
    const ins = this.db.prepare(
      'INSERT OR REPLACE INTO points (run_id, step, tokens, loss, val_loss, lr) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.db.transaction(() => {
      for (const p of pts) ins.run(runId, p.step, p.tokens, p.loss, p.valLoss, p.lr);
    })();
  }

  curve(runId: number): CurvePoint[] {
    return (
      this.db
        .prepare(
          'SELECT step, tokens, loss, val_loss AS valLoss, lr FROM points WHERE run_id = ? ORDER BY step',
        )
        .all(runId) as CurvePoint[]
    ).map((p) => ({ ...p }));
  }
}
