/**
 * `minicpm eval --download TASKS --data DIR` against a local server on 127.0.0.1 standing in for the
 * hub and the original publishers (never the network): the downloaded folder loads exactly as the
 * repository's copy (../shared/data/benchmarks; those cases are skipped, visibly, without it), zips are
 * unpacked to the loader's layout and cannot write outside it, and a failed fetch says which files to
 * download and where to put them, leaving no partial file.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadBenchmarks, evalCommand } from '../../src/cli/eval-command.js';
import {
  DatasetDownloadError,
  downloadTask,
  loadTask,
  manualInstructions,
} from '../../src/eval/datasets/index.js';
import { EvalError } from '../../src/eval/errors.js';

const BENCH = path.resolve(import.meta.dirname, '../../../shared/data/benchmarks');
const haveBench = fs.existsSync(BENCH);
if (!haveBench)
  console.warn(`datasets-download: ${BENCH} is missing; the cases that serve its files are skipped`);

/** A zip of stored entries (the format's minimum: local headers, central directory, end record). */
function zipOf(files: [string, Buffer][]): Buffer {
  const local: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of files) {
    const n = Buffer.from(name);
    const crc = zlib.crc32(data);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt32LE(crc, 14);
    h.writeUInt32LE(data.length, 18);
    h.writeUInt32LE(data.length, 22);
    h.writeUInt16LE(n.length, 26);
    local.push(h, n, data);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(data.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(n.length, 28);
    c.writeUInt32LE(offset, 42);
    central.push(c, n);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...local, cd, end]);
}

/** The files of a folder as zip entries under `prefix`. */
const entries = (dir: string, prefix: string): [string, Buffer][] =>
  fs.readdirSync(dir).map((f) => [`${prefix}${f}`, fs.readFileSync(path.join(dir, f))]);

const served = new Map<string, Buffer>();
const requests: string[] = [];
let base = '';
let server: http.Server;
let tmp = '';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const body = served.get(req.url ?? '');
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-download-'));
});
afterAll(() => {
  server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const fresh = (name: string): string => fs.mkdtempSync(path.join(tmp, `${name}-`));
const opts = () => ({ hfEndpoint: base, mirror: base });

describe.skipIf(!haveBench)('downloaded benchmark folders load as the repository copy', () => {
  it('math (hub by dataset id, and the original publisher) and gsm8k', async () => {
    served.set(
      '/datasets/HuggingFaceH4/MATH-500/resolve/main/test.jsonl',
      fs.readFileSync(path.join(BENCH, 'math', 'math500_test.jsonl')),
    );
    served.set(
      '/raw.githubusercontent.com/ZubinGou/math-evaluation-harness/main/data/math/test.jsonl',
      fs.readFileSync(path.join(BENCH, 'math', 'test.jsonl')),
    );
    for (const s of ['train', 'test'])
      served.set(
        `/raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/${s}.jsonl`,
        fs.readFileSync(path.join(BENCH, 'gsm8k', `${s}.jsonl`)),
      );
    const dir = fresh('data');
    expect(await downloadTask('math', dir, opts())).toBe(2);
    expect(await downloadTask('gsm8k', dir, opts())).toBe(2);
    for (const task of ['math', 'gsm8k']) {
      const got = loadTask(task, dir);
      const want = loadTask(task, BENCH);
      expect(got.items.length).toBe(want.items.length);
      expect(got).toEqual(want);
    }
    // files already there are kept: nothing is fetched again
    const before = requests.length;
    expect(await downloadTask('math', dir, opts())).toBe(0);
    expect(requests.length).toBe(before);
  });

  it('cmmlu: the published zip unpacked to cmmlu/dev and cmmlu/test', async () => {
    const zip = zipOf([
      ['README.md', Buffer.from('not wanted')],
      ...entries(path.join(BENCH, 'cmmlu', 'dev'), 'dev/'),
      ...entries(path.join(BENCH, 'cmmlu', 'test'), 'test/'),
    ]);
    served.set('/datasets/haonan-li/cmmlu/resolve/main/cmmlu_v1_0_1.zip', zip);
    const dir = fresh('data');
    const n = await downloadTask('cmmlu', dir, opts());
    expect(n).toBe(fs.readdirSync(path.join(BENCH, 'cmmlu', 'dev')).length * 2);
    expect(fs.readdirSync(dir).sort()).toEqual(['cmmlu']);
    expect(loadTask('cmmlu', dir)).toEqual(loadTask('cmmlu', BENCH));
  });
});

describe('download failures', () => {
  it('offline: the error lists every file to download and where to put it, and writes nothing', async () => {
    const dir = fresh('offline');
    const offline = { hfEndpoint: 'http://127.0.0.1:1', mirror: 'http://127.0.0.1:1' };
    const e = await downloadTask('math', dir, offline).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DatasetDownloadError);
    const msg = (e as Error).message;
    expect(msg).toContain(
      'cannot download http://127.0.0.1:1/datasets/HuggingFaceH4/MATH-500/resolve/main/test.jsonl',
    );
    expect(msg).toContain(`-> ${path.join(dir, 'math', 'math500_test.jsonl')}`);
    expect(msg).toContain(`-> ${path.join(dir, 'math', 'test.jsonl')}`);
    expect(msg).toContain(`minicpm eval --data ${dir}`);
    expect(fs.readdirSync(dir)).toEqual([]);
    // a zip source names the folders to unpack into
    expect(manualInstructions('ceval', dir)).toContain(
      `https://huggingface.co/datasets/ceval/ceval-exam/resolve/main/ceval-exam.zip\n    unpack dev/ -> ${path.join(dir, 'ceval', 'dev')}`,
    );
  });

  it('a missing file is an HTTP error naming its URL', async () => {
    const e = await downloadTask('humaneval', fresh('missing'), opts()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DatasetDownloadError);
    expect((e as Error).message).toMatch(/cannot download .*HumanEval\.jsonl\.gz \(HTTP 404/);
  });

  it('a zip entry that climbs out of its folder is refused', async () => {
    served.set(
      '/datasets/ceval/ceval-exam/resolve/main/ceval-exam.zip',
      zipOf([['dev/../../../evil.csv', Buffer.from('x')]]),
    );
    const dir = fresh('slip');
    await expect(downloadTask('ceval', path.join(dir, 'data'), opts())).rejects.toThrow(
      /points outside its folder/,
    );
    expect(fs.existsSync(path.join(dir, 'evil.csv'))).toBe(false);
    expect(fs.existsSync(path.join(tmp, 'evil.csv'))).toBe(false);
  });

  it('tasks without a download source say what to put where', async () => {
    const dir = fresh('mmlu');
    await expect(downloadTask('mmlu', dir, opts())).rejects.toThrow(
      new RegExp(`put its files in place by hand:\\n  put ${dir}/mmlu/\\{dev,test\\}`),
    );
    await expect(downloadTask('nope', dir, opts())).rejects.toThrow(/unknown task 'nope'/);
  });

  it('eval --download fetches hub files through $HF_ENDPOINT, and needs --data', async () => {
    const o = { tasks: 'ceval', protocol: 'ultraeval', limit: '0', seed: '0', mathSet: 'full' };
    await expect(downloadBenchmarks({ ...o, download: 'ceval' })).rejects.toThrow(
      /--download needs --data DIR/,
    );
    served.set(
      '/datasets/ceval/ceval-exam/resolve/main/ceval-exam.zip',
      zipOf([
        ['dev/law_dev.csv', Buffer.from('id,question,A,B,C,D,answer,explanation\n0,q,a,b,c,d,A,e\n')],
        ['val/law_val.csv', Buffer.from('id,question,A,B,C,D,answer\n0,q,a,b,c,d,B\n')],
        ['test/law_test.csv', Buffer.from('id,question,A,B,C,D\n0,q,a,b,c,d\n')],
      ]),
    );
    const saved = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = base;
    try {
      const dir = fresh('cli');
      await downloadBenchmarks({ ...o, download: 'ceval', data: dir });
      expect(fs.readdirSync(path.join(dir, 'ceval')).sort()).toEqual(['dev', 'test', 'val']);
      expect(fs.readFileSync(path.join(dir, 'ceval', 'val', 'law_val.csv'), 'utf8')).toContain(
        '0,q,a,b,c,d,B',
      );
      // every task that fails is reported, together (cmmlu's hub zip is not served now: a 404 from the local
      // server, so no request leaves this machine)
      served.delete('/datasets/haonan-li/cmmlu/resolve/main/cmmlu_v1_0_1.zip');
      await expect(downloadBenchmarks({ ...o, download: 'cmmlu,mmlu', data: fresh('cli2') })).rejects.toThrow(
        /cmmlu_v1_0_1\.zip \(HTTP 404[\s\S]*mmlu has no download source/,
      );
    } finally {
      if (saved === undefined) delete process.env.HF_ENDPOINT;
      else process.env.HF_ENDPOINT = saved;
    }
  });

  it('eval without benchmark files says how to get them, before loading any model', async () => {
    const o = {
      tasks: 'gsm8k,math',
      protocol: 'ultraeval',
      limit: '0',
      seed: '0',
      mathSet: 'full',
      model: '/no/model',
    };
    const e = await evalCommand({ ...o, data: path.join(tmp, 'absent') }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EvalError);
    expect((e as Error).message).toMatch(
      /no benchmark files at .*absent: fetch them with `minicpm eval --download gsm8k,math --data DIR`/,
    );
  });
});
