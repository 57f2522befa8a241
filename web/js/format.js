// Display formatting for numbers, times and test values.

export function formatDuration(ms) {
  if (ms == null || !Number.isFinite(Number(ms))) return '? ms';
  ms = Number(ms);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function formatKiB(kib) {
  if (kib == null || !Number.isFinite(Number(kib))) return '? KiB';
  kib = Number(kib);
  if (kib < 1024) return `${Math.round(kib)} KiB`;
  if (kib < 1024 * 1024) return `${(kib / 1024).toFixed(1)} MiB`;
  return `${(kib / 1024 / 1024).toFixed(2)} GiB`;
}

/** Accepts unix seconds, unix milliseconds or an ISO string. */
export function toDate(value) {
  if (value == null || value === '') return null;
  if (typeof value === 'number') return new Date(value < 1e12 ? value * 1000 : value);
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function formatWhen(value) {
  const d = toDate(value);
  if (!d) return '';
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (sameDay) return `today ${time}`;
  return `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${time}`;
}

/**
 * A JSON value written as a literal of the question's language, so a Python
 * learner sees None/True/'text' rather than null/true/"text".
 */
export function formatLiteral(value, language = 'python') {
  const py = String(language || '').toLowerCase().startsWith('py');
  const lit = (v) => {
    if (v === null || v === undefined) return py ? 'None' : 'null';
    if (v === true) return py ? 'True' : 'true';
    if (v === false) return py ? 'False' : 'false';
    if (typeof v === 'string') return py ? pyString(v) : JSON.stringify(v);
    if (Array.isArray(v)) return `[${v.map(lit).join(', ')}]`;
    if (typeof v === 'object') {
      return `{${Object.entries(v).map(([k, x]) => `${lit(k)}: ${lit(x)}`).join(', ')}}`;
    }
    return String(v);
  };
  return lit(value);
}

function pyString(s) {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  const body = s
    .replace(/\\/g, '\\\\')
    .replace(/\n/g, '\\n')
    .replace(/\t/g, '\\t')
    .replace(/\r/g, '\\r')
    .replaceAll(quote, '\\' + quote);
  return quote + body + quote;
}

/** Visible-case args as a call argument list: [[2, 7], 9] → "[2, 7], 9". */
export function formatArgs(args, language = 'python') {
  if (typeof args === 'string') return args; // already written out by the server
  if (Array.isArray(args)) return args.map((a) => formatLiteral(a, language)).join(', ');
  return formatLiteral(args, language);
}

const LIMIT_TEXT = {
  time: 'time limit exceeded',
  memory: 'memory limit exceeded',
  processes: 'process limit exceeded',
  output: 'output limit exceeded',
  disk: 'disk limit exceeded',
  cancelled: 'cancelled',
  lost: 'run lost (the sandbox went away)',
};

export function formatLimit(limit) {
  return limit ? LIMIT_TEXT[limit] || `limit: ${limit}` : '';
}

/** "too_many_requests" → "too many requests" (for machine-ish reason codes). */
export function humanize(code) {
  return String(code ?? '').replace(/[_.]+/g, ' ').trim();
}
