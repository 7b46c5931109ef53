/**
 * URL templates: concrete paths to low-cardinality templates. The fast scan is checked against
 * the plain split-and-test formulation it replaced, on generated paths of every segment kind.
 */
import { describe, expect, it } from 'vitest';
import { PathScan, type Template, liftVersion } from '../src/url-template.js';

/** A path's template and version, as normalize builds them when the action memo lacks them. */
const templateOf = (path: string): Template => new PathScan().scan(path).template();
import { rng } from './helpers/rng.js';

const VERSION = /^(v\d+(\.\d+)*|\d{4}-\d{2}(-\d{2})?)$/i;
const ID = /^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{12,}|[A-Za-z0-9_-]*\d[A-Za-z0-9_-]{5,}|[A-Z]{2}\d{2}[A-Z0-9]{10,30})$/i;
const TOKEN = /^eyJ|[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

/** The formulation the scan replaced: split, test every segment, join. */
function reference(path: string): { template: string; version?: string } {
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

const SEGMENTS = [
  '', 'api', 'tickets', 'v2', 'V3', 'v1.2', '2024-05', '2024-05-01', '42', '0', 'deadbeefcafe', 'deadbeefca', 'abcdefabcdefab',
  '123e4567-e89b-12d3-a456-426614174000', 'abcdefab-abcd-abcd-abcd-abcdefabcdef', 'user_12345x', 'ab1cdef', 'a1b', 'GB29NWBK60161331926819',
  'eyJhbGciOiJIUzI1NiJ9', 'eyJ', 'abcdefgh.ijklmnop', 'index.html', 'x'.repeat(65), 'y'.repeat(64), '{id}', '{ver}', 'hello-world', 'élan', 'a.b',
  'v', 'V', 'v.', 'v1.', 'v1..2', 'v.1', 'V10.0.3', '007', '12.5', '1'.repeat(70), 'v1a', 'w1',
];

function randomPath(r: () => number): string {
  const n = Math.floor(r() * 6);
  let path = (r() < 0.8 ? '/' : '') + Array.from({ length: n }, () => SEGMENTS[Math.floor(r() * SEGMENTS.length)]).join('/');
  if (r() < 0.2) path += '?q=1&id=42';
  if (r() < 0.1) path += '/';
  return path;
}

describe('templateOf', () => {
  it('agrees with the split-and-test formulation on 5,000 generated paths', () => {
    const r = rng(11);
    for (let i = 0; i < 5_000; i++) {
      const path = randomPath(r);
      expect(templateOf(path), JSON.stringify(path)).toEqual(reference(path));
    }
  });

  it('tells a known template apart without building the path\'s: PathScan.is is true exactly when the built template and version are equal', () => {
    // Candidates: templates of other generated paths (many share segments), the path's own with
    // its version changed or a segment cut, and templates that came with a span (liftVersion).
    const r = rng(12);
    const scan = new PathScan();
    const known = Array.from({ length: 300 }, () => reference(randomPath(r)));
    known.push(liftVersion('/api/v2/{id}'), liftVersion('/{id}'), { template: '/', version: undefined }, { template: '/', version: 'v1' });
    let matches = 0;
    for (let i = 0; i < 3_000; i++) {
      const path = randomPath(r);
      const own = reference(path);
      scan.scan(path);
      const candidates = [
        ...known.slice(i % 280, (i % 280) + 20), own,
        { template: own.template, version: own.version === undefined ? 'v9' : undefined },
        { template: own.template, version: own.version?.toUpperCase() },
        { template: own.template.slice(0, own.template.lastIndexOf('/')) || '/', version: own.version },
        { template: `${own.template}/`, version: own.version },
        { template: own.template.replace('{id}', '{id}s'), version: own.version },
        { template: own.template.replace('{ver}', '{ver}s'), version: own.version },
      ];
      for (const c of candidates) {
        const equal = c.template === own.template && c.version === own.version;
        expect(scan.is(c.template, c.version), `${JSON.stringify(path)} against ${JSON.stringify(c)}`).toBe(equal);
        if (equal) matches++;
      }
      expect(scan.template()).toEqual(own);
    }
    expect(matches).toBeGreaterThan(3_000); // its own every time, and others' that share it
  });

  it('scans a path of thousands of segments, and the next short one, alike', () => {
    const scan = new PathScan();
    const long = `/v2${'/items/42'.repeat(5_000)}`;
    expect(scan.scan(long).template()).toEqual(reference(long));
    expect(scan.is(reference(long).template, 'v2')).toBe(true);
    expect(scan.scan('/a/7').template()).toEqual({ template: '/a/{id}', version: undefined });
    expect(scan.is('/a/{id}', undefined)).toBe(true);
    expect(scan.is(reference(long).template, 'v2')).toBe(false);
  });

  it('templates ids and versions, and keeps a template that came with the span', () => {
    expect(templateOf('/api/v2/tickets/123e4567-e89b-12d3-a456-426614174000/notes/42?x=1')).toEqual({ template: '/api/{ver}/tickets/{id}/notes/{id}', version: 'v2' });
    expect(templateOf('/health')).toEqual({ template: '/health', version: undefined });
    expect(templateOf('')).toEqual({ template: '/', version: undefined });
    expect(liftVersion('/api/v3/items/{id}')).toEqual({ template: '/api/{ver}/items/{id}', version: 'v3' });
  });
});
