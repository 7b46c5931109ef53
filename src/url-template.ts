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

/** Segments a PathScan's lists keep room for between scans. */
const MAX_KEPT_SEGMENTS = 256;

/** What a path segment becomes in its template. */
const KEPT = 0;
const AS_ID = 1;
const AS_VERSION = 2;

/** What a path segment path[start, end) becomes in its template: kept as it is, `{id}` or `{ver}`. */
function segmentKind(path: string, start: number, end: number): number {
  if (end === start || path.charCodeAt(start) === 123 /* { */ || plainWord(path, start, end)) return KEPT;
  // The two commonest kinds told by a scan, not a slice and regular expressions: numbers (ids:
  // VERSION needs a 'v' or a '-') and versions like v2 or v1.2.
  if (allDigits(path, start, end)) return AS_ID;
  if (simpleVersion(path, start, end)) return AS_VERSION;
  const seg = path.slice(start, end);
  if (VERSION.test(seg)) return AS_VERSION;
  return ID.test(seg) || TOKEN.test(seg) || seg.length > 64 ? AS_ID : KEPT;
}

/**
 * A path cut into its segments, each classified (kept, `{id}` or `{ver}`) — then either the
 * template built, or a template already known checked against the path without building one (the
 * action memo's lookup: on a hit, no string is made for the call's template). One is reused for
 * path after path; it holds only the last path scanned.
 */
export class PathScan {
  private path = '';
  /** End of the path proper (where its query starts). */
  private end = 0;
  private n = 0;
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly kinds: number[] = [];

  scan(path: string): this {
    // A path of thousands of segments is scanned like any other, but its lists are not kept at
    // that size for the life of the process.
    if (this.starts.length > MAX_KEPT_SEGMENTS) {
      this.starts.length = 0;
      this.ends.length = 0;
      this.kinds.length = 0;
    }
    const q = path.indexOf('?');
    const end = q < 0 ? path.length : q;
    this.path = path;
    this.end = end;
    let n = 0;
    let start = 0;
    for (;;) {
      let slash = path.indexOf('/', start);
      if (slash >= end) slash = -1;
      const segEnd = slash < 0 ? end : slash;
      this.starts[n] = start;
      this.ends[n] = segEnd;
      this.kinds[n] = segmentKind(path, start, segEnd);
      n++;
      if (slash < 0) break;
      start = slash + 1;
    }
    this.n = n;
    return this;
  }

  /** The scanned path's template and version. */
  template(): Template {
    const path = this.path;
    let version: string | undefined;
    // Built only from the first segment that changes: a path with no ids is its own template.
    let out: string | undefined;
    for (let i = 0; i < this.n; i++) {
      const kind = this.kinds[i];
      const start = this.starts[i];
      let rep: string | undefined;
      if (kind === AS_ID) rep = '{id}';
      else if (kind === AS_VERSION) {
        version ??= path.slice(start, this.ends[i]).toLowerCase();
        rep = '{ver}';
      }
      if (out !== undefined) out += `/${rep ?? path.slice(start, this.ends[i])}`;
      else if (rep !== undefined) out = path.slice(0, start) + rep;
    }
    return { template: (out ?? path.slice(0, this.end)) || '/', version };
  }

  /** Whether template() would return exactly this template and version. */
  is(template: string, version: string | undefined): boolean {
    if (this.end === 0) return template === '/' && version === undefined;
    const path = this.path;
    let from = 0;
    let versionSeen = false;
    for (let i = 0; i < this.n; i++) {
      const slash = template.indexOf('/', from);
      // The template has a segment for each of the path's, no more.
      if ((slash < 0) !== (i === this.n - 1)) return false;
      const to = slash < 0 ? template.length : slash;
      const start = this.starts[i];
      const end = this.ends[i];
      const kind = this.kinds[i];
      if (kind === KEPT) {
        if (to - from !== end - start || !sameChars(template, from, path, start, end - start)) return false;
      } else if (kind === AS_ID) {
        if (to - from !== 4 || !template.startsWith('{id}', from)) return false;
      } else {
        if (to - from !== 5 || !template.startsWith('{ver}', from)) return false;
        // The version is the first version segment's, lower-cased (versions are ASCII).
        if (!versionSeen && (version === undefined || !sameLowerCase(version, path, start, end))) return false;
        versionSeen = true;
      }
      from = to + 1;
    }
    return versionSeen || version === undefined;
  }
}

function sameChars(a: string, from: number, b: string, start: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (a.charCodeAt(from + i) !== b.charCodeAt(start + i)) return false;
  return true;
}

/** Whether `lower` is path[start, end) lower-cased, for ASCII. */
function sameLowerCase(lower: string, path: string, start: number, end: number): boolean {
  if (lower.length !== end - start) return false;
  for (let i = start; i < end; i++) {
    let c = path.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i - start)) return false;
  }
  return true;
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

/** A template that came from the span: only its version is lifted (PathScan builds a path's). */
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
