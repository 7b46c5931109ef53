/**
 * TLS from files, watched: a certificate renewed in place reaches the server on the next look; a
 * file that breaks is said and the server keeps what it had; nothing is read again while the
 * files stay as they are.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import { watchTls } from '../src/tls-files.js';
import { until } from './helpers/until.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-tls-files-'));
const at = (f: string): string => join(dir, f);
for (const name of ['first', 'second']) {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', at(`${name}.key`), '-out', at(`${name}.pem`), '-days', '1', '-subj', `/CN=${name}`], { stdio: 'pipe' });
}
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('watched TLS files', () => {
  it('hands a renewed certificate to the server on the next look, says when files break, and reads nothing while they stay', async () => {
    writeFileSync(at('live.pem'), readFileSync(at('first.pem')));
    writeFileSync(at('live.key'), readFileSync(at('first.key')));
    const served: SecureContextOptions[] = [];
    const told: (string | undefined)[] = [];
    const timer = watchTls({ certFile: at('live.pem'), keyFile: at('live.key') }, 'api.tls', { setSecureContext: (c) => served.push(c) }, (err) => told.push(err?.message), 20);
    try {
      await new Promise((r) => setTimeout(r, 100));
      expect(served).toHaveLength(0); // unchanged files: nothing read again
      writeFileSync(at('live.pem'), readFileSync(at('second.pem')));
      writeFileSync(at('live.key'), readFileSync(at('second.key')));
      await until(() => served.length === 1, 5_000, 10);
      expect(String(served[0].cert)).toBe(readFileSync(at('second.pem'), 'utf8'));
      writeFileSync(at('live.key'), readFileSync(at('first.key'))); // not the certificate's key
      await until(() => told.length === 2, 5_000, 10);
      expect(told[0]).toBeUndefined();
      expect(told[1]).toMatch(/^api\.tls: .*live\.pem and .*live\.key cannot be used: .*key values mismatch/);
      expect(served).toHaveLength(1);
    } finally {
      clearInterval(timer);
    }
  });
});
