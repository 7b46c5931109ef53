/** How long a receiver asks us to wait before trying again (HTTP Retry-After). */

/** A failure that says how long to wait before the next attempt (a receiver's Retry-After), ms. */
export interface RetryAfter {
  retryAfterMs?: number;
}

/** How long a Retry-After header asks to wait, ms: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined without one it can read. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  // An HTTP date names its month (and weekday); Date.parse alone reads "-5" as a year.
  const at = /[A-Za-z]{3}/.test(header) ? Date.parse(header) : Number.NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
