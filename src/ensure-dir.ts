/**
 * `mkdir -p`, one level at a time. Node 20's `mkdirSync(path, { recursive: true })` never returns
 * for a path under /proc (the kernel answers ENOENT for a parent that exists, and Node retries
 * for ever): `chainwatch simulate --out /proc/x` spun a core until killed. Each missing level made
 * on its own fails at once with the system's reason instead.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export function ensureDir(path: string): void {
  if (existsSync(path) && !statSync(path).isDirectory()) {
    throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}'`), { code: 'ENOTDIR', path });
  }
  const missing: string[] = [];
  for (let p = resolve(path); !existsSync(p); p = dirname(p)) {
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir);
    } catch (err) {
      // Made meanwhile by another process: what was wanted.
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
    }
  }
}
