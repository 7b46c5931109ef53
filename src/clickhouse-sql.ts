/**
 * SQL for ClickHouse across releases. Queries are written once with typed placeholders
 * (`{name:Type}`). On a server that binds query parameters (19.8+) they travel as parameters and
 * never touch the SQL text; on older servers (Debian's 18.16) `bind` inlines them through
 * `literal`, the one escaping function, tested with hostile input against the real server.
 */
import { StoreError } from './errors.js';

export interface Dialect {
  version: string;
  /** Server-side query parameters (param_* over HTTP). */
  queryParams: boolean;
  /** LowCardinality columns, table TTL, DateTime64 and fromUnixTimestamp64Milli without experimental settings (20.8+). */
  modern: boolean;
}

export function dialectFor(version: string): Dialect {
  const [major = 0, minor = 0] = version.split('.').map((p) => Number.parseInt(p, 10));
  const atLeast = (ma: number, mi: number): boolean => major > ma || (major === ma && minor >= mi);
  return { version, queryParams: atLeast(19, 8), modern: atLeast(20, 8) };
}

/** A ClickHouse string literal: single-quoted, with backslash, quote and control bytes escaped. */
export function quoteString(s: string): string {
  let out = "'";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    const code = s.charCodeAt(i);
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}'`;
}

/** The literal for a value of a placeholder type; anything that does not fit the type is refused. */
export function literal(value: unknown, type: string): string {
  const array = /^Array\((.+)\)$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) throw new StoreError(`query parameter of type ${type} needs an array`);
    return `[${value.map((v) => literal(v, array[1])).join(', ')}]`;
  }
  if (type === 'String') {
    if (typeof value !== 'string') throw new StoreError(`query parameter of type String needs a string, got ${typeof value}`);
    return quoteString(value);
  }
  if (/^U?Int(8|16|32|64)$/.test(type)) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || (type.startsWith('U') && value < 0)) throw new StoreError(`query parameter of type ${type} needs an integer, got ${String(value)}`);
    return String(value);
  }
  if (type === 'Float64') {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new StoreError(`query parameter of type Float64 needs a finite number, got ${String(value)}`);
    return String(value);
  }
  throw new StoreError(`unsupported query parameter type ${type}`);
}

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*):([A-Za-z0-9_()]+)\}/g;

/** The SQL to send and the parameters to send with it, for this dialect. */
export function bind(sql: string, params: Record<string, unknown>, dialect: Pick<Dialect, 'queryParams'>): { query: string; query_params?: Record<string, unknown> } {
  for (const m of sql.matchAll(PLACEHOLDER)) if (!(m[1] in params)) throw new StoreError(`query parameter ${m[1]} has no value`);
  if (dialect.queryParams) return { query: sql, query_params: params };
  return { query: sql.replace(PLACEHOLDER, (_, name: string, type: string) => literal(params[name], type)) };
}
