/** The SpamAssassin package's non-spam folders as documents (spam is left out: it is not text to imitate). */
import fs from 'node:fs';
import path from 'node:path';
import type { RawDoc } from '../types.js';
import { mailToText } from './mail.js';

export const HAM_FOLDERS = ['easy-ham-1', 'easy-ham-2', 'hard-ham-1'];

export function* mailDocs(pkgDir: string): Generator<RawDoc> {
  for (const folder of HAM_FOLDERS) {
    const dir = path.join(pkgDir, 'data', folder);
    if (!fs.existsSync(dir)) continue;
    for (const f of fs
      .readdirSync(dir)
      .filter((n) => n.endsWith('.txt'))
      .sort()) {
      // The messages are 2002 mail in mixed 8-bit charsets; latin1 keeps every byte for the MIME decoder.
      const text = mailToText(fs.readFileSync(path.join(dir, f), 'latin1'));
      if (text) yield { id: `${folder}/${f.replace('.txt', '')}`, text };
    }
  }
}
