/**
 * What went wrong with an HTTP request, in words an operator can act on: Node's fetch says only
 * "fetch failed" and keeps the reason (ECONNREFUSED, ENOTFOUND, a TLS error) in its cause.
 */
export function describeFetchError(err: unknown): string {
  const e = err as Error & { cause?: { message?: string; code?: string } };
  if (e?.name === 'TimeoutError') return `no answer within the timeout (${e.message})`;
  const cause = e?.cause?.message ?? e?.cause?.code;
  return cause !== undefined && cause !== e.message ? `${e.message}: ${cause}` : String(e?.message ?? err);
}
