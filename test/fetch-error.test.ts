/** A failed HTTP request described by its cause (refused, unknown host, timeout), not fetch's "fetch failed". */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { describeFetchError } from '../src/fetch-error.js';

describe('fetch errors', () => {
  it('names the refused connection, the unknown host and the timeout', async () => {
    // A port just freed: nothing listens there.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise((r) => server.close(r));
    const refused = await fetch(`http://127.0.0.1:${port}/`).catch((e: unknown) => e);
    expect(describeFetchError(refused)).toBe(`fetch failed: connect ECONNREFUSED 127.0.0.1:${port}`);
    const unknown = await fetch('http://no-such-host.invalid/').catch((e: unknown) => e);
    expect(describeFetchError(unknown)).toMatch(/^fetch failed: getaddrinfo (ENOTFOUND|EAI_AGAIN) no-such-host\.invalid/);
    const slow = createServer(() => {}); // accepts, never answers
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const timedOut = await fetch(`http://127.0.0.1:${(slow.address() as { port: number }).port}/`, { signal: AbortSignal.timeout(50) }).catch((e: unknown) => e);
    slow.close();
    expect(describeFetchError(timedOut)).toMatch(/^no answer within the timeout/);
    expect(describeFetchError(new Error('plain'))).toBe('plain');
  });
});
