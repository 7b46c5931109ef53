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
  const parts = path.split('/').map((seg) => {
    if (seg === '' || seg.startsWith('{')) return seg;
    if (VERSION.test(seg)) {
      version ??= seg.toLowerCase();
      return '{ver}';
    }
    return ID.test(seg) || TOKEN.test(seg) || seg.length > 64 ? '{id}' : seg;
  });
  return { template: parts.join('/') || '/', version };
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
