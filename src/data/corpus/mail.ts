/**
 * Plain prose out of raw e-mail (the SpamAssassin public corpus's non-spam messages): headers dropped but
 * the subject, MIME parts and transfer encodings decoded, and the parts that are not the author's own
 * words removed: quoted replies, signatures, list footers, PGP blocks. Addresses are masked.
 */

interface Part {
  headers: Map<string, string>;
  body: string;
}

function parsePart(raw: string): Part {
  const split = raw.search(/\r?\n\r?\n/);
  const head = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  // Continuation lines (leading whitespace) belong to the header above them.
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function param(header: string | undefined, name: string): string | undefined {
  const m = new RegExp(`${name}\\s*=\\s*"?([^";]+)"?`, 'i').exec(header ?? '');
  return m?.[1];
}

function decodeCharset(bytes: Uint8Array, charset: string | undefined): string {
  const label = (charset ?? 'utf-8').toLowerCase();
  try {
    return new TextDecoder(label === 'us-ascii' ? 'utf-8' : label, { fatal: true }).decode(bytes);
  } catch {
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

function decodeBody(part: Part): string {
  const enc = (part.headers.get('content-transfer-encoding') ?? '').toLowerCase();
  const charset = param(part.headers.get('content-type'), 'charset');
  if (enc === 'base64') return decodeCharset(Buffer.from(part.body.replace(/\s+/g, ''), 'base64'), charset);
  if (enc === 'quoted-printable') {
    const soft = part.body.replace(/=\r?\n/g, '');
    const bytes: number[] = [];
    for (let i = 0; i < soft.length; i++) {
      const hex = soft[i] === '=' ? soft.slice(i + 1, i + 3) : '';
      if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16));
        i += 2;
      } else bytes.push(...Buffer.from(soft[i], 'latin1'));
    }
    return decodeCharset(Uint8Array.from(bytes), charset);
  }
  // 7bit/8bit bodies arrive as one char per byte (see mailToText), so the charset decides here too.
  return decodeCharset(Buffer.from(part.body, 'latin1'), charset);
}

/** RFC 2047 encoded words in headers (`=?iso-8859-1?Q?caf=E9?=`); raw 8-bit headers as UTF-8 when valid. */
export function decodeHeader(value: string): string {
  const raw = decodeCharset(Buffer.from(value, 'latin1'), 'utf-8');
  return raw
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_m, charset: string, enc: string, data: string) => {
      const qp = (d: string): string =>
        d
          .replace(/_/g, ' ')
          .replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16)));
      const bytes = enc.toUpperCase() === 'B' ? Buffer.from(data, 'base64') : Buffer.from(qp(data), 'latin1');
      return decodeCharset(bytes, charset);
    });
}

function stripHtml(html: string): string {
  return html
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, '')
    .replace(/<br\s*\/?>|<\/p>|<\/div>/gi, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"');
}

/** The first text/plain part (or a text/html one, de-tagged), searching multipart bodies depth-first. */
function textOf(part: Part, depth = 0): string | undefined {
  const type = (part.headers.get('content-type') ?? 'text/plain').toLowerCase();
  if (type.startsWith('multipart/') && depth < 5) {
    const boundary = param(part.headers.get('content-type'), 'boundary');
    if (!boundary) return undefined;
    const pieces = part.body.split(`--${boundary}`).slice(1);
    const parts = pieces.filter((p) => !p.startsWith('--')).map((p) => parsePart(p.replace(/^\r?\n/, '')));
    for (const p of parts)
      if ((p.headers.get('content-type') ?? 'text/plain').toLowerCase().startsWith('text/plain'))
        return textOf(p, depth + 1);
    for (const p of parts) {
      const t = textOf(p, depth + 1);
      if (t) return t;
    }
    return undefined;
  }
  if (type.startsWith('text/plain')) return decodeBody(part);
  if (type.startsWith('text/html')) return stripHtml(decodeBody(part));
  return undefined;
}

const FOOTER_START =
  /^(_{20,}|-{20,}|-+ ?yahoo! groups sponsor|to unsubscribe|sponsored by:|this sf\.net email is sponsored)/i;

/** Keep the author's own lines: drop quotes and their attributions, signatures, footers, PGP armour. */
export function authorText(body: string): string {
  const out: string[] = [];
  let inPgp = false;
  for (const line of body.split(/\r?\n/)) {
    const t = line.trim();
    if (t === '-- ' || line === '-- ' || line === '--' || FOOTER_START.test(t)) break;
    if (t.startsWith('-----BEGIN PGP SIGNATURE')) inPgp = true;
    if (inPgp) {
      if (t.startsWith('-----END PGP')) inPgp = false;
      continue;
    }
    if (/^-----BEGIN PGP SIGNED MESSAGE|^Hash: /.test(t)) continue;
    if (/^\s*(>|\|>)/.test(line)) continue;
    if (/wrote:$|writes:$|said:$/.test(t) && t.length < 160) continue;
    out.push(line);
  }
  return out.join('\n');
}

export function maskAddresses(text: string): string {
  return text.replace(/[\w.+-]+@[\w-]+(\.[\w-]+)+/g, '<email>');
}

/**
 * One raw RFC 822 message → "Subject: ...\n\nbody", or undefined when nothing of the author remains.
 * `raw` holds one character per byte (read the file as latin1): the MIME charsets decide the real text.
 */
export function mailToText(raw: string): string | undefined {
  const msg = parsePart(raw.replace(/^From .*\r?\n/, ''));
  const body = textOf(msg);
  if (body === undefined) return undefined;
  const text = authorText(body).trim();
  if (!text) return undefined;
  const subject = decodeHeader(msg.headers.get('subject') ?? '')
    .replace(/^\[[^\]]+\]\s*/, '')
    .trim();
  return maskAddresses(subject ? `Subject: ${subject}\n\n${text}` : text);
}
