/**
 * The one escaping function for values inlined into ClickHouse SQL (servers without query
 * parameters, e.g. Debian's 18.16): hostile strings come back from the real server exactly as
 * sent and never change the query; values that do not fit the placeholder type are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, ClickHouseLogLevel } from '@clickhouse/client';
import { bind, dialectFor, literal, quoteString } from '../src/clickhouse-sql.js';
import { StoreError } from '../src/errors.js';
import { clickhouse } from './helpers/clickhouse.js';
import { HOSTILE } from './helpers/hostile.js';


describe('quoteString and literal', () => {
  it('escapes quotes, backslashes and control bytes', () => {
    expect(quoteString("o'b\\r")).toBe("'o\\'b\\\\r'");
    expect(quoteString('a\nb\u0000')).toBe("'a\\x0ab\\x00'");
    for (const s of HOSTILE) {
      const q = quoteString(s);
      // Inside the quotes, every quote is escaped: the literal ends only at its last character.
      const body = q.slice(1, -1);
      expect(body.replace(/\\\\/g, '').replace(/\\'/g, '')).not.toContain("'");
    }
  });

  it('refuses values that do not fit the placeholder type', () => {
    expect(() => literal('1; DROP TABLE x', 'UInt64')).toThrow(StoreError);
    expect(() => literal(-1, 'UInt32')).toThrow(/integer/);
    expect(() => literal(1.5, 'UInt64')).toThrow(/integer/);
    expect(() => literal(Number.NaN, 'Float64')).toThrow(/finite/);
    expect(() => literal(42, 'String')).toThrow(/string/);
    expect(() => literal('x', 'Array(String)')).toThrow(/array/);
    expect(() => literal('x', 'Nullable(String)')).toThrow(/unsupported/);
    expect(literal(['a', "b'"], 'Array(String)')).toBe("['a', 'b\\'']");
  });

  it('binds inline on old servers and as parameters on new ones', () => {
    const sql = 'SELECT * FROM t WHERE a = {a:String} AND n < {n:UInt64}';
    expect(bind(sql, { a: "x'", n: 5 }, { queryParams: false })).toEqual({ query: "SELECT * FROM t WHERE a = 'x\\'' AND n < 5" });
    expect(bind(sql, { a: "x'", n: 5 }, { queryParams: true })).toEqual({ query: sql, query_params: { a: "x'", n: 5 } });
    expect(() => bind(sql, { a: 'x' }, { queryParams: false })).toThrow(/parameter n has no value/);
  });

  it('reads the release to pick features', () => {
    expect(dialectFor('18.16.1')).toMatchObject({ queryParams: false, modern: false });
    expect(dialectFor('19.8.3.8')).toMatchObject({ queryParams: true, modern: false });
    expect(dialectFor('24.8.4.13')).toMatchObject({ queryParams: true, modern: true });
  });
});

describe('against the real server', () => {
  const server = clickhouse(18131);
  const client = createClient({ url: server.url, log: { level: ClickHouseLogLevel.OFF } });
  let queryParams = false;

  beforeAll(async () => {
    server.start();
    const rs = await client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
    queryParams = dialectFor((await rs.json<{ v: string }>())[0].v).queryParams;
  }, 120_000);

  afterAll(async () => {
    await client.close();
    server.destroy();
  }, 60_000);

  it('returns every hostile string exactly as sent, in one row and one column', async () => {
    for (const s of HOSTILE) {
      const q = bind('SELECT {s:String} AS s, {list:Array(String)} AS l', { s, list: [s, 'x'] }, { queryParams });
      const rows = await (await client.query({ ...q, format: 'JSONEachRow' })).json<{ s: string; l: string[] }>();
      expect(rows).toEqual([{ s, l: [s, 'x'] }]);
    }
  });

  it('keeps a hostile filter a value: no rows, no damage', async () => {
    await client.command({ query: 'CREATE TABLE t (a String) ENGINE = Memory' });
    await client.insert({ table: 't', values: [{ a: 'one' }, { a: 'two' }], format: 'JSONEachRow' });
    for (const s of HOSTILE) {
      const rows = await (await client.query({ ...bind('SELECT a FROM t WHERE a = {s:String}', { s }, { queryParams }), format: 'JSONEachRow' })).json();
      expect(rows).toEqual([]);
    }
    const all = await (await client.query({ query: 'SELECT count() AS n FROM t', format: 'JSONEachRow' })).json<{ n: string }>();
    expect(Number(all[0].n)).toBe(2);
  });
});
