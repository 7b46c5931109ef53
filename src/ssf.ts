/**
 * OpenID Shared Signals: our revocations as CAEP Security Event Tokens (FORMATS.md 5.1), signed
 * RS256 with a 2048-bit key (the CAEP interoperability profile) whose public half is published
 * as a JWK set. One event per SET, `typ: secevent+jwt`, top-level `sub_id`, never `sub` or
 * `exp`. The key is generated on first start into the state dir (mode 0600) and kept; its JWK
 * thumbprint is the `kid`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type JWK, SignJWT, calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, importPKCS8 } from 'jose';

export const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';

export interface SsfSigner {
  kid: string;
  privateKey: CryptoKey;
  jwks: { keys: JWK[] };
}

/** Load the state dir's signing key, creating it on first use. */
export async function loadSigner(stateDir: string): Promise<SsfSigner> {
  const file = join(stateDir, 'ssf-signing-key.pem');
  let privateKey: CryptoKey;
  if (existsSync(file)) privateKey = await importPKCS8(readFileSync(file, 'utf8'), 'RS256', { extractable: true });
  else {
    const pair = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    privateKey = pair.privateKey;
    writeFileSync(file, await exportPKCS8(privateKey), { mode: 0o600 });
  }
  const full = await exportJWK(privateKey);
  const pub: JWK = { kty: full.kty!, n: full.n!, e: full.e! };
  const kid = await calculateJwkThumbprint(pub);
  return { kid, privateKey, jwks: { keys: [{ ...pub, kid, alg: 'RS256', use: 'sig' }] } };
}

export interface SetClaims {
  iss: string;
  aud: string;
  jti: string;
  iat: number;
  txn: string;
  sub_id: Record<string, unknown>;
  event: string;
  payload: Record<string, unknown>;
}

export async function signSet(s: SsfSigner, c: SetClaims): Promise<string> {
  return new SignJWT({ txn: c.txn, sub_id: c.sub_id, events: { [`${CAEP}${c.event}`]: c.payload } })
    .setProtectedHeader({ alg: 'RS256', typ: 'secevent+jwt', kid: s.kid })
    .setIssuer(c.iss).setAudience(c.aud).setJti(c.jti).setIssuedAt(c.iat)
    .sign(s.privateKey);
}
