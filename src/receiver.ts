/**
 * OTLP receiver: POST /v1/traces with application/x-protobuf or application/json bodies,
 * gzip, zstd, deflate (zlib) or identity encoded — what the Collector's otlphttp exporter sends —
 * over HTTP or HTTPS, and OTLP/gRPC's TraceService/Export beside it when asked (`grpcPort`). Answers per the OTLP/HTTP spec: 200 (with partial_success when spans were
 * rejected), 400 with a google.rpc.Status for undecodable bodies (never retried), 401 for a sender
 * without the bearer token or client certificate required of it, 413 for bodies over the limit
 * before or after decompression, 415 for other media types, 503 with Retry-After when the engine's
 * buffers are full. Bad input is counted, never fatal.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Server as HttpsServer } from 'node:https';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { KeyFilter } from './attribute-map.js';
import { BackpressureError, ChainwatchError, OtlpDecodeError, PayloadTooLargeError } from './errors.js';
import { decodeTraceRequest, encodeExportResponse, encodeRpcStatus } from './otlp-proto.js';
import { decodeTraceRequestJson } from './otlp-json.js';
import { type DecodedBatch, type RawSpan, type SpanTimeWindow, dropMisdatedSpans } from './span.js';
import { defaultChainConfig } from './chains.js';
import { ZstdTooLargeError, zstdDecompressAtMost } from './zstd.js';
import { type TlsFiles, type TlsServer, readTls, reloadTls, watchTls } from './tls-files.js';
import { GrpcListener, type GrpcIntake } from './receiver-grpc.js';

/** The span time window comes from the engine's chain settings (engine.chains.max_clock_skew, max_span_age). */
export interface ReceiverConfig extends SpanTimeWindow {
  host: string;
  port: number;
  /** Largest accepted body, compressed and decompressed. */
  maxBodyBytes: number;
  retryAfterSeconds: number;
  /**
   * Bearer tokens a sender must present (`Authorization: Bearer …`), any one of them — several
   * while a token is rotated. None: no check (the receiver listens on loopback by default). Where
   * it listens on a network, anyone who can reach it could otherwise teach the baselines.
   */
  tokens?: readonly string[];
  /** HTTPS, with its certificate and key read again when the files change; with a client CA, mutual TLS for senders. */
  tls?: TlsFiles;
  /** OTLP/gRPC (TraceService/Export) on this port of `host` too, with the same token and TLS; none: HTTP only. */
  grpcPort?: number;
}

export const defaultReceiverConfig: ReceiverConfig = { host: '127.0.0.1', port: 4318, maxBodyBytes: 64 * 1024 * 1024, retryAfterSeconds: 5, maxClockSkewMs: defaultChainConfig.maxClockSkewMs, maxSpanAgeMs: defaultChainConfig.maxSpanAgeMs };

export interface ReceiverCounters {
  requests: number;
  spansAccepted: number;
  spansRejected: number;
  /** Of spansRejected: dated ahead of the machine's clock, and older than the span age allowed. */
  spansSkewed: number;
  spansTooOld: number;
  badRequests: Record<string, number>;
}

export interface SpanConsumer {
  /** Throws BackpressureError when it cannot take more now. */
  consume(spans: RawSpan[]): void;
  /** Event time: the latest span end taken so far (0 before any), which bounds how old a span may be. */
  eventTime(): number;
}

export class OtlpReceiver {
  readonly counters: ReceiverCounters = { requests: 0, spansAccepted: 0, spansRejected: 0, spansSkewed: 0, spansTooOld: 0, badRequests: {} };
  readonly app: FastifyInstance;
  /** Readiness: set once state is restored and the listener is up; cleared on shutdown. */
  ready = false;
  /** What GET /status reports (a running instance's summary for `chainwatch status`). */
  status: () => object = () => ({});
  /**
   * Why this instance takes no OTLP/HTTP traces, when it does not (a process running Kafka stages
   * reads its telemetry from Kafka): POSTs are answered 404 with it, and counted — a status OTLP
   * exporters do not retry (421 Misdirected Request, the apter one, is retried by HTTP clients).
   */
  refuseTraces?: string;
  /** Told when the TLS files were read again after a change: undefined, or why they could not be used. */
  onTlsReload: (err: Error | undefined) => void = () => {};
  private tlsTimer: NodeJS.Timeout | undefined;
  private grpc: GrpcListener | undefined;

  /** host:port of the OTLP/gRPC listener, once listening (with `grpcPort`). */
  get grpcAddress(): string | undefined {
    return this.grpc?.address;
  }

  /** The gRPC listener's way in: the same token, refusal, counters and intake as HTTP's. */
  private readonly grpcIntake: GrpcIntake = {
    decode: (bytes) => decodeTraceRequest(bytes, this.filter),
    ready: () => this.ready,
    admits: (authorization) => this.admits(authorization),
    refusal: () => this.refuseTraces,
    counted: (reason) => (reason === undefined ? this.counters.requests++ : this.count(reason)),
    take: (batch) => this.take(batch),
  };
  /** SHA-256 of each accepted bearer token; undefined when none is required. */
  private readonly tokenDigests: Buffer[] | undefined;
  /** The TLS files as read at start (HTTPS; the gRPC listener binds with them too). */
  private readonly tlsContext: SecureContextOptions | undefined;

  constructor(private readonly filter: KeyFilter, private readonly consumer: SpanConsumer, readonly config: ReceiverConfig = defaultReceiverConfig) {
    this.tokenDigests = config.tokens?.length ? config.tokens.map((t) => createHash('sha256').update(t).digest()) : undefined;
    // A client certificate is asked for but checked on POST /v1/traces only: probes (a kubelet's
    // HTTPS GET carries none) and /status (the token guards it) stay reachable without one.
    this.tlsContext = config.tls === undefined ? undefined : readTls(config.tls, 'receiver.tls');
    const https = this.tlsContext === undefined ? undefined : { ...this.tlsContext, ...(config.tls?.clientCaFile ? { requestCert: true, rejectUnauthorized: false } : {}) };
    this.app = Fastify({ bodyLimit: config.maxBodyBytes, logger: false, ...(https ? { https } : {}) }) as unknown as FastifyInstance;
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    this.app.post('/v1/traces', (req, reply) => this.handle(req, reply));
    // A browser or a misconfigured exporter sending GET (or a logs/metrics exporter pointed at the
    // traces path) is told what this path takes, not that it does not exist.
    this.app.route({
      method: ['GET', 'PUT', 'DELETE', 'PATCH'], url: '/v1/traces',
      handler: (req, reply) => {
        this.count('method_not_allowed');
        reply.header('allow', 'POST');
        this.fail(req, reply, 405, `${req.method} is not allowed on /v1/traces: POST an OTLP ExportTraceServiceRequest (application/x-protobuf or application/json)`);
      },
    });
    this.app.setNotFoundHandler((req, reply) => {
      const hint = /^\/v1\/(logs|metrics)\b/.test(req.url) ? ': chainwatch takes traces only; point the traces exporter at /v1/traces' : ': OTLP traces go to POST /v1/traces';
      this.fail(req, reply, 404, `no such path ${req.method} ${req.url.split('?')[0]}${hint}`);
    });
    this.app.get('/healthz', (_req, reply) => reply.send({ status: 'ok' }));
    this.app.get('/readyz', (_req, reply) => reply.code(this.ready ? 200 : 503).send({ status: this.ready ? 'ready' : 'not ready' }));
    // What a running instance holds — its sinks and their errors, Kafka stages, agent counts — is
    // for its operators: a receiver that asks senders for a token asks for it here too.
    this.app.get('/status', (req, reply) => {
      if (!this.admits(req.headers.authorization)) {
        reply.header('www-authenticate', BEARER_CHALLENGE);
        this.fail(req, reply, 401, 'missing or wrong bearer token: /status takes a receiver token (chainwatch status --token-env NAME, NAME the variable holding it)');
        return reply;
      }
      return reply.send(this.status());
    });
    this.app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
      const status = err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 413 : err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
      const message = status === 413 ? new PayloadTooLargeError(config.maxBodyBytes).message : err.message;
      this.count(status === 413 ? 'too_large' : 'invalid_request');
      this.fail(req, reply, status, message);
    });
  }

  /**
   * Why a sender is not let in, when it is not: no client certificate the client CA signed (mutual
   * TLS), or no bearer token, or a wrong one (answered with a Bearer challenge).
   */
  private unauthenticated(req: FastifyRequest): { message: string; challenge: boolean } | undefined {
    const socket = req.raw.socket as TLSSocket;
    if (this.config.tls?.clientCaFile !== undefined && !socket.authorized) {
      const why = socket.authorizationError;
      return { challenge: false, message: `no client certificate signed by the CA of receiver.tls.client_ca_file${why ? ` (${why instanceof Error ? why.message : String(why)})` : ''}: give the sender its certificate and key (the Collector: the otlphttp exporter's tls cert_file and key_file)` };
    }
    if (!this.admits(req.headers.authorization)) {
      return { challenge: true, message: 'missing or wrong bearer token: send Authorization: Bearer <token>, a token in the variable receiver.token_env names (the Collector: the otlphttp exporter\'s headers, or the bearertokenauth extension)' };
    }
    return undefined;
  }

  /**
   * Whether the authorization header lets its request in: always when no token is required, else
   * when it names one of the tokens — compared as SHA-256 digests, in constant time, so neither a
   * token's bytes nor its length leak through timing.
   */
  private admits(header: string | undefined): boolean {
    if (this.tokenDigests === undefined) return true;
    const m = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (m === null) return false;
    const got = createHash('sha256').update(m[1]).digest();
    let ok = false;
    for (const d of this.tokenDigests) ok = timingSafeEqual(got, d) || ok;
    return ok;
  }

  async listen(): Promise<string> {
    const address = await this.app.listen({ host: this.config.host, port: this.config.port });
    if (this.config.grpcPort !== undefined) {
      try {
        this.grpc = await GrpcListener.listen(this.config.host, this.config.grpcPort, this.config.maxBodyBytes, this.tlsContext, this.grpcIntake);
      } catch (err) {
        await this.app.close();
        throw err;
      }
    }
    if (this.config.tls !== undefined) this.tlsTimer = watchTls(this.config.tls, 'receiver.tls', this.tlsListeners, (err) => this.onTlsReload(err));
    return address;
  }

  /**
   * Both listeners as one TLS server for the files' watch: HTTPS takes a new context in place;
   * the gRPC port is bound again with it (grpc-js cannot swap a listener's certificate), and
   * `grpcRebinding` settles when it serves the new one.
   */
  private readonly tlsListeners: TlsServer = {
    setSecureContext: (context) => {
      (this.app.server as unknown as HttpsServer).setSecureContext(context);
      if (this.grpc !== undefined) this.grpcRebinding = this.grpc.rebind(context).catch((err: Error) => this.onTlsReload(err));
    },
  };

  private grpcRebinding: Promise<void> | undefined;

  /**
   * Serve the TLS files as they are now, from the next handshake (as the watch does when they
   * change); told to onTlsReload. Settles once the gRPC listener, if any, serves them too.
   */
  reloadTls(): Promise<void> {
    this.grpcRebinding = undefined;
    reloadTls(this.config.tls!, 'receiver.tls', this.tlsListeners, (err) => this.onTlsReload(err));
    return this.grpcRebinding ?? Promise.resolve();
  }

  async close(): Promise<void> {
    clearInterval(this.tlsTimer);
    await this.grpcRebinding; // a renewal's binding, finished before the server shuts down (it never rejects)
    const grpc = this.grpc;
    this.grpc = undefined;
    await grpc?.close();
    await this.app.close();
  }

  private async handle(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    this.counters.requests++;
    const denied = this.unauthenticated(req);
    if (denied !== undefined) {
      this.count('unauthorized');
      if (denied.challenge) reply.header('www-authenticate', BEARER_CHALLENGE);
      this.fail(req, reply, 401, denied.message);
      return reply;
    }
    if (this.refuseTraces !== undefined) {
      this.count('misdirected');
      this.fail(req, reply, 404, this.refuseTraces);
      return reply;
    }
    const type = mediaType(req.headers['content-type']);
    if (type !== 'application/x-protobuf' && type !== 'application/json') {
      this.count('unsupported_media_type');
      this.fail(req, reply, 415, `unsupported content-type "${type}": send application/x-protobuf or application/json`);
      return reply;
    }
    let batch: DecodedBatch;
    try {
      // Awaited only for zstd: gzip and identity, nearly every request, stay on this turn.
      const decompressed = this.decompress(req);
      const body = Buffer.isBuffer(decompressed) ? decompressed : await decompressed;
      batch = type === 'application/json' ? decodeTraceRequestJson(body, this.filter) : decodeTraceRequest(body, this.filter);
    } catch (err) {
      if (err instanceof PayloadTooLargeError) {
        this.count('too_large');
        this.fail(req, reply, 413, err.message);
      } else if (err instanceof ChainwatchError) {
        this.count(err instanceof OtlpDecodeError ? 'malformed' : 'invalid_request');
        this.fail(req, reply, 400, `cannot decode ${type} ExportTraceServiceRequest: ${err.message}`);
      } else throw err;
      return reply;
    }
    let message: string;
    try {
      message = this.take(batch);
    } catch (err) {
      if (err instanceof BackpressureError) {
        reply.header('retry-after', String(err.retryAfterSeconds));
        this.fail(req, reply, 503, err.message);
        return reply;
      }
      throw err;
    }
    if (type === 'application/json') {
      reply.code(200).type('application/json').send(batch.rejected > 0 ? { partialSuccess: { rejectedSpans: String(batch.rejected), errorMessage: message } } : {});
    } else {
      reply.code(200).type('application/x-protobuf').send(Buffer.from(encodeExportResponse(batch.rejected, message)));
    }
    return reply;
  }

  /**
   * A decoded request's spans into the engine, those dated out of the window taken out first;
   * counted. The partial-success message ('' when every span was taken). Throws BackpressureError
   * (counted) when the engine cannot take them now.
   */
  private take(batch: DecodedBatch): string {
    const misdated = dropMisdatedSpans(batch, Date.now(), this.consumer.eventTime(), this.config);
    try {
      this.consumer.consume(batch.spans);
    } catch (err) {
      if (err instanceof BackpressureError) this.count('backpressure');
      throw err;
    }
    this.counters.spansAccepted += batch.spans.length;
    this.counters.spansRejected += batch.rejected;
    this.counters.spansSkewed += misdated.ahead;
    this.counters.spansTooOld += misdated.old;
    return batch.rejected > 0 ? `rejected ${batch.rejected} spans: ${batch.reasons.join('; ')}` : '';
  }

  private decompress(req: FastifyRequest): Buffer | Promise<Buffer> {
    const body = req.body as Buffer | undefined;
    if (!body || body.length === 0) return Buffer.alloc(0);
    const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
    const max = this.config.maxBodyBytes;
    switch (encoding) {
      case 'identity':
      case '':
        return body;
      case 'gzip':
        return inflated('gzip', () => gunzipSync(body, { maxOutputLength: max }), max);
      case 'deflate':
      case 'zlib':
        // "deflate" is zlib-wrapped (RFC 9110, and the Collector's confighttp); a raw stream is taken too.
        return inflated(encoding, () => {
          try {
            return inflateSync(body, { maxOutputLength: max });
          } catch (err) {
            if ((err as { code?: string }).code !== 'Z_DATA_ERROR') throw err;
            return inflateRawSync(body, { maxOutputLength: max });
          }
        }, max);
      case 'zstd':
        return zstdDecompressAtMost(body, max).catch((err: Error) => {
          throw err instanceof ZstdTooLargeError ? new PayloadTooLargeError(max) : new OtlpDecodeError(`zstd body is corrupt: ${err.message}`);
        });
      default:
        throw new OtlpDecodeError(`unsupported content-encoding "${encoding}": use gzip, zstd, deflate or none`);
    }
  }

  private count(reason: string): void {
    this.counters.badRequests[reason] = (this.counters.badRequests[reason] ?? 0) + 1;
  }

  private fail(req: FastifyRequest, reply: FastifyReply, status: number, message: string): void {
    const code = rpcCode(status);
    if (mediaType(req.headers['content-type']) === 'application/x-protobuf') {
      reply.code(status).type('application/x-protobuf').send(Buffer.from(encodeRpcStatus(code, message)));
    } else {
      reply.code(status).type('application/json').send({ code, message });
    }
  }
}

/**
 * The google.rpc.Code a failed request's Status carries, from its HTTP status (the mapping gRPC
 * gateways use). OTLP/HTTP clients act on the HTTP status alone, but a Status saying 0 (OK) on a
 * refusal misleads whoever reads it in a collector's log.
 */
export function rpcCode(status: number): number {
  switch (status) {
    case 400:
    case 415:
      return 3; // INVALID_ARGUMENT
    case 401:
      return 16; // UNAUTHENTICATED
    case 404:
      return 5; // NOT_FOUND
    case 405:
      return 12; // UNIMPLEMENTED
    case 413:
    case 429:
      return 8; // RESOURCE_EXHAUSTED
    case 503:
      return 14; // UNAVAILABLE
    default:
      return status >= 500 ? 13 : 2; // INTERNAL, UNKNOWN
  }
}

/** The challenge a 401 for a missing or wrong bearer token carries. */
const BEARER_CHALLENGE = 'Bearer realm="chainwatch"';

/** A zlib decompression's output, or the receiver's errors for a bomb (413) and for damage (400). */
function inflated(encoding: string, inflate: () => Buffer, max: number): Buffer {
  try {
    return inflate();
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) throw new PayloadTooLargeError(max);
    throw new OtlpDecodeError(`${encoding} body is corrupt: ${(err as Error).message}`);
  }
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}
