/**
 * Turn concrete URL paths into low-cardinality templates when the span has no url.template:
 * ids (numbers, UUIDs, long hex, mixed alphanumerics) become {id}; API version segments become
 * {ver} so that a version bump does not look like every action being new. Opaque tokens in a
 * path (JWTs, dotted signatures) become {id} too: a template is stored and alerted on, and a
 * bearer token in a path must not survive into either.
 */
const VERSION = /^(v\d+(\.\d+)*|\d{4}-\d{2}(-\d{2})?)$/i;
const ID = /^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{12,}|[A-Za-z0-9_-]*\d[A-Za-z0-9_-]{5,}|[A-Z]{2}\d{2}[A-Z0-9]{10,30})$/i;

const TOKEN = /^eyJ|[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

export interface Template {
  template: string;
  /** The API version segment if there was one, e.g. "v2". */
  version?: string;
}

export function templateOf(path: string): Template {
  const q = path.indexOf('?');
  if (q >= 0) path = path.slice(0, q);
  let version: string | undefined;
  // Built only from the first segment that changes; a path with no ids is its own template, and a
  // segment is cut out of the path only when it may be an id or a version.
  let out: string | undefined;
  let start = 0;
  for (;;) {
    const slash = path.indexOf('/', start);
    const end = slash < 0 ? path.length : slash;
    let rep: string | undefined;
    if (end > start && path.charCodeAt(start) !== 123 /* { */ && !plainWord(path, start, end)) {
      // The two commonest kinds told by a scan, not a slice and regular expressions: numbers
      // (ids: VERSION needs a 'v' or a '-') and versions like v2 or v1.2.
      if (allDigits(path, start, end)) rep = '{id}';
      else if (simpleVersion(path, start, end)) {
        version ??= path.slice(start, end).toLowerCase();
        rep = '{ver}';
      } else {
        const seg = path.slice(start, end);
        if (VERSION.test(seg)) {
          version ??= seg.toLowerCase();
          rep = '{ver}';
        } else if (ID.test(seg) || TOKEN.test(seg) || seg.length > 64) rep = '{id}';
      }
    }
    if (out !== undefined) out += `/${rep ?? path.slice(start, end)}`;
    else if (rep !== undefined) out = path.slice(0, start) + rep;
    if (slash < 0) break;
    start = slash + 1;
  }
  return { template: (out ?? path) || '/', version };
}

/**
 * Whether path[start, end) is a segment none of VERSION, ID and TOKEN can match, told without
 * them: they all need a digit, a dot, an `eyJ` start or at least 12 characters.
 */
function plainWord(path: string, start: number, end: number): boolean {
  if (end - start >= 12 || path.startsWith('eyJ', start)) return false;
  for (let i = start; i < end; i++) {
    const c = path.charCodeAt(i);
    if ((c >= 48 && c <= 57) || c === 46) return false;
  }
  return true;
}

function allDigits(path: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Whether path[start, end) is v (or V), digits, then any number of a dot and digits: VERSION's first form. */
function simpleVersion(path: string, start: number, end: number): boolean {
  if ((path.charCodeAt(start) | 0x20) !== 118 /* v */) return false;
  let digits = 0;
  for (let i = start + 1; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c === 46 /* . */ && digits > 0) digits = 0;
    else return false;
  }
  return digits > 0;
}

/** Same as templateOf but for a template that came from the span: only the version is lifted. */
export function liftVersion(template: string): Template {
  let version: string | undefined;
  const parts = template.split('/').map((seg) => {
    if (VERSION.test(seg)) {
      version ??= seg.toLowerCase();
      return '{ver}';
    }
    return seg;
  });
  return { template: parts.join('/') || '/', version };
}
