/**
 * The receiver over HTTPS, as a platform team runs it beyond one host: the real OpenTelemetry
 * exporter sends through TLS; with a client CA, only senders holding a certificate it signed get
 * spans in (probes need none); a certificate renewed in place is served from the next connection,
 * and a broken one is refused while the one before keeps serving.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { request } from 'node:https';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { KeyFilter, defaultMapping } from '../src/attribute-map.js';
import { ConfigError } from '../src/errors.js';
import { OtlpReceiver, defaultReceiverConfig } from '../src/receiver.js';
import { type GrpcIntake, GrpcListener } from '../src/receiver-grpc.js';
import { Service } from '../src/service.js';
import type { RawSpan } from '../src/span.js';
import { rawClient, rawExport } from './helpers/grpc.js';
import { exportOneSpan } from './helpers/export.js';
import { credentials, status } from '@grpc/grpc-js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-tls-'));
const at = (f: string): string => join(dir, f);
const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe', cwd: dir });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
/** A certificate for `cn`, signed by `ca` (or by itself), with the names a client checks. */
function certificate(name: string, cn: string, ca?: string): void {
  if (ca === undefined) return openssl('req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${cn}`);
  writeFileSync(at(`${name}.ext`), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl('req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
}
certificate('ca', 'test ca');
certificate('server', 'localhost', 'ca');
certificate('renewed', 'localhost', 'ca');
certificate('client', 'agent-runtime', 'ca');
certificate('rogue-ca', 'rogue ca');
certificate('rogue', 'agent-runtime', 'rogue-ca');
writeFileSync(at('live.pem'), readFileSync(at('server.pem')));
writeFileSync(at('live.key'), readFileSync(at('server.key')));

const received: RawSpan[] = [];
const receivers: OtlpReceiver[] = [];
async function start(clientCa: boolean): Promise<{ receiver: OtlpReceiver; url: string }> {
  const receiver = new OtlpReceiver(KeyFilter.forMapping(defaultMapping), { consume: (spans) => received.push(...spans), eventTime: () => 0 }, {
    ...defaultReceiverConfig, port: 0, tls: { certFile: at('live.pem'), keyFile: at('live.key'), ...(clientCa ? { clientCaFile: at('ca.pem') } : {}) },
  });
  receivers.push(receiver);
  return { receiver, url: (await receiver.listen()).replace('127.0.0.1', 'localhost') };
}
afterAll(async () => {
  for (const r of receivers) await r.close();
});

const ca = readFileSync(at('ca.pem'));
/** A request over HTTPS trusting the test CA, with a client certificate when named: its status and JSON body. */
function call(url: string, path: string, client?: string): Promise<{ status: number; body: any }> {
  const tls = { ca, ...(client ? { cert: readFileSync(at(`${client}.pem`)), key: readFileSync(at(`${client}.key`)) } : {}) };
  const post = path === '/v1/traces';
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: post ? 'POST' : 'GET', headers: { 'content-type': 'application/json' }, ...tls }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(post ? '{"resourceSpans":[]}' : undefined);
  });
}

/** One span through the real SDK exporter over HTTPS; the error it reports, if any. */
const sendSpan = (url: string, client?: string): Promise<Error | undefined> => exportOneSpan(new OTLPTraceExporter({
  url: `${url}/v1/traces`, httpAgentOptions: { ca, ...(client ? { cert: readFileSync(at(`${client}.pem`)), key: readFileSync(at(`${client}.key`)) } : {}) },
}));

/** The certificate a new connection is served, by fingerprint. */
function servedCertificate(url: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: Number(port), servername: 'localhost', ca, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    }).on('error', reject);
  });
}
const fingerprint = (name: string): string => execFileSync('openssl', ['x509', '-in', at(`${name}.pem`), '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' }).trim().split('=')[1];

describe('receiver over TLS', () => {
  it('takes spans from the real exporter over HTTPS, and no plain HTTP', async () => {
    const { url } = await start(false);
    expect(url).toMatch(/^https:\/\/localhost:\d+$/);
    const before = received.length;
    expect(await sendSpan(url)).toBeUndefined();
    expect(received.length).toBe(before + 1);
    await expect(fetch(`${url.replace('https', 'http')}/v1/traces`, { method: 'POST', body: '{}' })).rejects.toThrow();
  });

  it('with a client CA, takes spans only from senders holding a certificate it signed; probes need none', async () => {
    const { url, receiver } = await start(true);
    const before = received.length;
    expect(await sendSpan(url, 'client')).toBeUndefined();
    expect(received.length).toBe(before + 1);
    expect((await sendSpan(url))?.message).toBe('Unauthorized');
    for (const client of [undefined, 'rogue']) {
      const res = await call(url, '/v1/traces', client);
      expect(res.status, client).toBe(401);
      expect(res.body.message).toMatch(/^no client certificate signed by the CA of receiver\.tls\.client_ca_file/);
    }
    expect((await call(url, '/v1/traces', 'client')).status).toBe(200);
    expect(received.length).toBe(before + 1);
    expect(receiver.counters.badRequests.unauthorized).toBe(3);
    expect((await call(url, '/healthz')).status).toBe(200);
  });

  it('serves a certificate renewed in place from the next connection, and keeps the one before when the new files are broken', async () => {
    const { url, receiver } = await start(false);
    const told: (string | undefined)[] = [];
    receiver.onTlsReload = (err) => told.push(err?.message);
    expect(await servedCertificate(url)).toBe(fingerprint('server'));
    writeFileSync(at('live.pem'), readFileSync(at('renewed.pem')));
    writeFileSync(at('live.key'), readFileSync(at('renewed.key')));
    receiver.reloadTls();
    expect(await servedCertificate(url)).toBe(fingerprint('renewed'));
    writeFileSync(at('live.key'), readFileSync(at('client.key'))); // a key that is not the certificate's
    receiver.reloadTls();
    expect(await servedCertificate(url)).toBe(fingerprint('renewed'));
    expect(told[0]).toBeUndefined();
    expect(told[1]).toMatch(/receiver\.tls: .*live\.pem and .*live\.key cannot be used: .*key values mismatch/);
    writeFileSync(at('live.key'), readFileSync(at('server.key'))); // restored for the other tests
    writeFileSync(at('live.pem'), readFileSync(at('server.pem')));
  });

  it('serves OTLP/gRPC over the same TLS, with the client certificate required where a client CA is set', async () => {
    const make = (clientCa: boolean) => new OtlpReceiver(KeyFilter.forMapping(defaultMapping), { consume: (spans) => received.push(...spans), eventTime: () => 0 }, {
      ...defaultReceiverConfig, port: 0, grpcPort: 0, tls: { certFile: at('server.pem'), keyFile: at('server.key'), ...(clientCa ? { clientCaFile: at('ca.pem') } : {}) },
    });
    const trusting = credentials.createSsl(ca);
    const name = { 'grpc.ssl_target_name_override': 'localhost' };
    const tls = make(false);
    receivers.push(tls);
    await tls.listen();
    expect(await rawExport(tls.grpcAddress!, Buffer.alloc(0), trusting, name)).toEqual({ code: status.OK, details: '' });
    expect((await rawExport(tls.grpcAddress!, Buffer.alloc(0))).code).toBe(status.UNAVAILABLE); // plaintext to a TLS port
    const mutual = make(true);
    receivers.push(mutual);
    await mutual.listen();
    const client = credentials.createSsl(ca, readFileSync(at('client.key')), readFileSync(at('client.pem')));
    expect(await rawExport(mutual.grpcAddress!, Buffer.alloc(0), client, name)).toEqual({ code: status.OK, details: '' });
    expect((await rawExport(mutual.grpcAddress!, Buffer.alloc(0), trusting, name)).code).toBe(status.UNAVAILABLE); // no client certificate: no handshake
  });

  it('serves a certificate renewed in place on the OTLP/gRPC port too, bound again with it', async () => {
    const receiver = new OtlpReceiver(KeyFilter.forMapping(defaultMapping), { consume: (spans) => received.push(...spans), eventTime: () => 0 }, {
      ...defaultReceiverConfig, port: 0, grpcPort: 0, tls: { certFile: at('live.pem'), keyFile: at('live.key') },
    });
    receivers.push(receiver);
    await receiver.listen();
    const told: (string | undefined)[] = [];
    receiver.onTlsReload = (err) => told.push(err?.message);
    const grpcUrl = `https://localhost:${receiver.grpcAddress!.split(':')[1]}`;
    const name = { 'grpc.ssl_target_name_override': 'localhost' };
    expect(await servedCertificate(grpcUrl)).toBe(fingerprint('server'));
    // A sender connected before the renewal: its connection is closed gracefully, and it reconnects.
    const sender = rawClient(receiver.grpcAddress!, credentials.createSsl(ca), name);
    expect(await sender.call('Export', Buffer.alloc(0))).toMatchObject({ code: status.OK, details: '' });
    writeFileSync(at('live.pem'), readFileSync(at('renewed.pem')));
    writeFileSync(at('live.key'), readFileSync(at('renewed.key')));
    try {
      await receiver.reloadTls();
      expect(told).toEqual([undefined]);
      expect(await servedCertificate(grpcUrl)).toBe(fingerprint('renewed'));
      expect(await rawExport(receiver.grpcAddress!, Buffer.alloc(0), credentials.createSsl(ca), name)).toEqual({ code: status.OK, details: '' });
      expect(await sender.call('Export', Buffer.alloc(0))).toMatchObject({ code: status.OK, details: '' });
    } finally {
      sender.close();
      writeFileSync(at('live.key'), readFileSync(at('server.key'))); // restored for the other tests
      writeFileSync(at('live.pem'), readFileSync(at('server.pem')));
    }
  });

  it('keeps serving the OTLP/gRPC port with the files before when it cannot be bound with renewed ones, and takes the next renewal', async () => {
    const intake: GrpcIntake = {
      decode: () => ({ spans: [], rejected: 0, reasons: [] }), ready: () => true, admits: () => true, refusal: () => undefined, counted: () => {}, take: () => '',
    };
    const files = (name: string) => ({ cert: readFileSync(at(`${name}.pem`)), key: readFileSync(at(`${name}.key`)) });
    const listener = await GrpcListener.listen('127.0.0.1', 0, 1 << 20, files('server'), intake);
    const url = `https://localhost:${listener.address.split(':')[1]}`;
    const name = { 'grpc.ssl_target_name_override': 'localhost' };
    try {
      // Files that do not parse make the binding fail (the receiver's watch refuses them before it
      // gets here; a port taken in the moment between would fail alike).
      await expect(listener.rebind({ cert: Buffer.from('not a certificate'), key: Buffer.from('not a key') }))
        .rejects.toThrow(/receiver\.tls: the OTLP\/gRPC listener .* could not take the renewed files .*; it serves the ones before$/);
      expect(await servedCertificate(url)).toBe(fingerprint('server'));
      expect(await rawExport(listener.address, Buffer.alloc(0), credentials.createSsl(ca), name)).toEqual({ code: status.OK, details: '' });
      await listener.rebind(files('renewed'));
      expect(await servedCertificate(url)).toBe(fingerprint('renewed'));
      expect(await rawExport(listener.address, Buffer.alloc(0), credentials.createSsl(ca), name)).toEqual({ code: status.OK, details: '' });
    } finally {
      await listener.close();
    }
  });

  it('serves the query API over HTTPS too, with its token', async () => {
    const svc = new Service({ stateDir: at('api-state'), receiver: { port: 0 }, api: { enabled: true, host: '127.0.0.1', port: 0, token: 'api-token-42', tls: { certFile: at('server.pem'), keyFile: at('server.key') } } });
    await svc.start();
    try {
      const url = svc.apiUrl!.replace('127.0.0.1', 'localhost');
      expect(url).toMatch(/^https:/);
      const get = (authorization?: string): Promise<number> => new Promise((resolve, reject) => {
        request(`${url}/api/v1/alerts`, { ca, headers: authorization ? { authorization } : {} }, (res) => resolve(res.resume().statusCode!)).on('error', reject).end();
      });
      expect(await get('Bearer api-token-42')).toBe(200);
      expect(await get()).toBe(401);
    } finally {
      await svc.stop();
    }
  });

  it('refuses to start on files it cannot read or use, naming the setting', () => {
    const make = (tls: { certFile: string; keyFile: string }) => () => new OtlpReceiver(KeyFilter.forMapping(defaultMapping), { consume: () => {}, eventTime: () => 0 }, { ...defaultReceiverConfig, port: 0, tls });
    expect(make({ certFile: at('none.pem'), keyFile: at('server.key') })).toThrow(/receiver\.tls\.cert_file: cannot read .*none\.pem/);
    expect(make({ certFile: at('server.pem'), keyFile: at('client.key') })).toThrow(ConfigError);
  });
});
