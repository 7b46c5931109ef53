/**
 * The receiver's TLS material, read from files and read again when they change: a certificate
 * renewed in place (cert-manager, an ACME client) is served from the next handshake, without a
 * restart that would drop the open chains' wait for their spans.
 */
import { readFileSync, statSync } from 'node:fs';
import { type SecureContextOptions, createSecureContext } from 'node:tls';
import { ConfigError } from './errors.js';

export interface ReceiverTlsFiles {
  certFile: string;
  keyFile: string;
  /** Senders must then present a client certificate this CA signed (mutual TLS). */
  clientCaFile?: string;
}

const SETTING = { certFile: 'receiver.tls.cert_file', keyFile: 'receiver.tls.key_file', clientCaFile: 'receiver.tls.client_ca_file' } as const;

/** The files' contents as a secure context; a file that cannot be read is a ConfigError naming its setting. */
export function readTls(files: ReceiverTlsFiles): SecureContextOptions {
  const read = (which: keyof ReceiverTlsFiles): Buffer | undefined => {
    const path = files[which];
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw ConfigError.ofSetting(SETTING[which], `cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const ca = read('clientCaFile');
  const context: SecureContextOptions = { cert: read('certFile'), key: read('keyFile'), ...(ca ? { ca } : {}) };
  try {
    createSecureContext(context); // PEM that does not parse, a key that is not the certificate's
  } catch (err) {
    throw ConfigError.ofSetting('receiver.tls', `${files.certFile} and ${files.keyFile}${ca ? ` with ${files.clientCaFile}` : ''} cannot be used: ${(err as Error).message}`);
  }
  return context;
}

/** The files' modification times, joined: a change in any of them changes it. */
export function tlsVersion(files: ReceiverTlsFiles): string {
  return [files.certFile, files.keyFile, files.clientCaFile].map((f) => {
    if (f === undefined) return '';
    try {
      return String(statSync(f).mtimeMs);
    } catch {
      return 'missing';
    }
  }).join('|');
}
