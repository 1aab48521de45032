/** A self-contained HTML report page: sections of text, tables and inline SVG charts. */

export interface Section {
  title: string;
  text?: string;
  svgs?: string[];
  table?: { head: string[]; rows: (string | number)[][] };
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function fmt(v: string | number): string {
  if (typeof v === 'string') return esc(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4);
}

export function reportHtml(title: string, sections: Section[]): string {
  const body = sections
    .map((s) => {
      const table = s.table
        ? `<table><tr>${s.table.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${s.table.rows
            .map((r) => `<tr>${r.map((c) => `<td>${fmt(c)}</td>`).join('')}</tr>`)
            .join('')}</table>`
        : '';
      return `<section><h2>${esc(s.title)}</h2>${s.text ? `<p>${esc(s.text)}</p>` : ''}${(s.svgs ?? []).join('\n')}${table}</section>`;
    })
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title><style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
section{margin-bottom:2em}</style></head><body><h1>${esc(title)}</h1>${body}</body></html>`;
}
