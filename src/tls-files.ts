/**
 * TLS served from files (the OTLP receiver's, the query API's), read again when they change: a
 * certificate renewed in place (cert-manager, an ACME client) is served from the next handshake,
 * without a restart that would drop the open chains' wait for their spans.
 */
import { statSync } from 'node:fs';
import { type SecureContextOptions, createSecureContext } from 'node:tls';
import { ConfigError } from './errors.js';
import { fileOfSetting } from './setting-sources.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Clients must then present a client certificate this CA signed (mutual TLS). */
  clientCaFile?: string;
}

/** How often the files are looked at for a renewal. */
const CHECK_MS = 30_000;

/**
 * The files' contents as a secure context. A file that cannot be read, or a certificate and key
 * that cannot be used together, is a ConfigError naming the setting under `setting` (e.g.
 * "receiver.tls").
 */
export function readTls(files: TlsFiles, setting: string): SecureContextOptions {
  const ca = fileOfSetting(files.clientCaFile, `${setting}.client_ca_file`);
  const context: SecureContextOptions = { cert: fileOfSetting(files.certFile, `${setting}.cert_file`), key: fileOfSetting(files.keyFile, `${setting}.key_file`), ...(ca ? { ca } : {}) };
  try {
    createSecureContext(context); // PEM that does not parse, a key that is not the certificate's
  } catch (err) {
    throw ConfigError.ofSetting(setting, `${files.certFile} and ${files.keyFile}${ca ? ` with ${files.clientCaFile}` : ''} cannot be used: ${(err as Error).message}`);
  }
  return context;
}

/** A server that can take a new secure context (an https.Server, a tls.Server). */
export interface TlsServer {
  setSecureContext(options: SecureContextOptions): void;
}

/** Serve the files as they are now, from the next handshake; `told` the error if they cannot be used (the ones before stay). */
export function reloadTls(files: TlsFiles, setting: string, server: TlsServer, told: (err: Error | undefined) => void): void {
  try {
    server.setSecureContext(readTls(files, setting));
    told(undefined);
  } catch (err) {
    told(err as Error);
  }
}

/** Look at the files every `everyMs` and reload them when one changed; the timer (unref'd), to clear at close. */
export function watchTls(files: TlsFiles, setting: string, server: TlsServer, told: (err: Error | undefined) => void, everyMs = CHECK_MS): NodeJS.Timeout {
  let version = tlsVersion(files);
  const timer = setInterval(() => {
    const now = tlsVersion(files);
    if (now === version) return;
    version = now;
    reloadTls(files, setting, server, told);
  }, everyMs);
  timer.unref();
  return timer;
}

/** The files' modification times, joined: a change in any of them changes it. */
function tlsVersion(files: TlsFiles): string {
  return [files.certFile, files.keyFile, files.clientCaFile].map((f) => {
    if (f === undefined) return '';
    try {
      return String(statSync(f).mtimeMs);
    } catch {
      return 'missing';
    }
  }).join('|');
}
