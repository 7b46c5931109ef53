/**
 * Secret redaction, applied in normalize before anything is kept, logged or stored: URL userinfo
 * and signature/token query parameters, and values that look like credentials wherever they
 * appear (URLs, paths, argument text, error types). Captured HTTP headers are never decoded —
 * they are not in the attribute mapping — so no header value can be kept at all.
 */
export const REDACTED = 'REDACTED';

const SECRET_NAME = /(pass(word|wd)?|secret|token|api[-_]?key|apikey|access[-_]?key|private[-_]?key|credential|auth(orization)?|cookie|session[-_]?id|signature|sig|jwt|bearer|client[-_]?secret|otp|pin|ssn|cvv)$/i;
const SECRET_QUERY = /^(x-amz-(signature|credential|security-token)|x-goog-(signature|credential)|sig|signature|token|access_token|id_token|refresh_token|api_key|apikey|key|secret|client_secret|password|pwd|code|auth|jwt|sv|se|sp|skoid|sktid)$/i;

/** Credential shapes seen in the wild: JWTs, provider key prefixes, bearer strings, PEM keys. */
const SECRET_VALUE = new RegExp(
  [
    'eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}',
    '\\b(sk|pk|rk)-[A-Za-z0-9_-]{16,}',
    '\\bgh[pousr]_[A-Za-z0-9]{20,}',
    '\\bgithub_pat_[A-Za-z0-9_]{20,}',
    '\\bxox[abposr]-[A-Za-z0-9-]{10,}',
    '\\bAKIA[0-9A-Z]{16}\\b',
    '\\bAIza[0-9A-Za-z_-]{30,}',
    '\\b[Bb]earer\\s+[A-Za-z0-9._~+/-]{12,}=*',
    '-----BEGIN [A-Z ]*PRIVATE KEY-----[\\s\\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)',
    '\\bwhsec_[A-Za-z0-9+/=]{16,}',
  ].join('|'),
  'g',
);

/** Replace credential-looking substrings of free text. */
export function redactText(text: string): string {
  return text.replace(SECRET_VALUE, REDACTED);
}

/** Whether an argument or header name says its value is a secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * Redact a URL per the HTTP semantic conventions: userinfo becomes REDACTED:REDACTED and
 * signature/token query parameters keep their name with the value REDACTED. Unparseable input is
 * treated as text.
 */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return redactText(raw);
  }
  if (url.username || url.password) {
    url.username = REDACTED;
    url.password = url.password ? REDACTED : '';
  }
  let changed = false;
  for (const key of [...url.searchParams.keys()]) {
    if (SECRET_QUERY.test(key) || isSecretName(key)) {
      url.searchParams.set(key, REDACTED);
      changed = true;
    }
  }
  const out = changed || url.username ? url.toString() : raw;
  return redactText(out);
}
