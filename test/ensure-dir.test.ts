/** mkdir -p that fails at once where Node's recursive mkdir never returns (/proc), and says why elsewhere. */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDir } from '../src/ensure-dir.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-ensure-dir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ensureDir', () => {
  it('makes every missing level, and leaves one that is there', () => {
    const deep = join(dir, 'a', 'b', 'c');
    ensureDir(deep);
    expect(statSync(deep).isDirectory()).toBe(true);
    ensureDir(deep);
    ensureDir(dir);
  });

  it('fails with the reason for a file in the way, above or at the path', () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    expect(() => ensureDir(file)).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
    expect(() => ensureDir(join(file, 'below'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
  });

  it('fails at once under /proc, where a recursive mkdir spins for ever', () => {
    expect(() => ensureDir('/proc/chainwatch-no-such/dir')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});
