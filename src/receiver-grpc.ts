/**
 * OTLP/gRPC beside the OTLP/HTTP receiver: TraceService/Export on the raw request bytes (the
 * receiver's targeted decoder, not generated code; answers encoded by hand) and grpc.health.v1 Check. The
 * receiver hands it the same gate and intake as HTTP's (GrpcIntake), so a span is let in, counted
 * and taken alike whichever transport brought it.
 */
import type { SecureContextOptions } from 'node:tls';
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData, status } from '@grpc/grpc-js';
import { BackpressureError, ChainwatchError, OtlpDecodeError } from './errors.js';
import { encodeExportResponse } from './otlp-proto.js';
import type { DecodedBatch } from './span.js';

/** What the gRPC listener asks of the receiver. */
export interface GrpcIntake {
  /** An ExportTraceServiceRequest's bytes decoded; throws OtlpDecodeError. */
  decode(bytes: Buffer): DecodedBatch;
  /** Ready to serve (state restored): the health check's answer. */
  ready(): boolean;
  /** Whether a call's `authorization` metadata lets it in. */
  admits(authorization: string): boolean;
  /** Why this instance takes no traces, when it does not (a process running Kafka stages). */
  refusal(): string | undefined;
  /** Count a request, or (with a reason) a refused one. */
  counted(reason?: string): void;
  /** A decoded request's spans into the engine; the partial-success message. Throws BackpressureError. */
  take(batch: DecodedBatch): string;
}

/** Methods on raw bytes: requests decoded by our own decoder, answers encoded by hand. */
const identity = (b: Buffer): Buffer => b;
const unary = (path: string) => ({ path, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity });

export class GrpcListener {
  private constructor(
    private server: Server,
    /** host:port as bound. */
    readonly address: string,
    /** The TLS files served now, as read (bound again should a renewal fail); undefined: plaintext. */
    private tls: SecureContextOptions | undefined,
    /** A new server with the listener's services, none of its ports bound. */
    private readonly newServer: () => Server,
  ) {}

  /** Listen on host:port (0: any free port), over TLS with `tls` (files as read), else plaintext. */
  static async listen(host: string, port: number, maxMessageBytes: number, tls: SecureContextOptions | undefined, intake: GrpcIntake): Promise<GrpcListener> {
    const newServer = (): Server => exportServer(maxMessageBytes, intake);
    const server = newServer();
    const bound = await bind(server, `${host}:${port}`, credentials(tls));
    return new GrpcListener(server, `${host}:${bound}`, tls, newServer);
  }

  /**
   * Serve renewed TLS files (the receiver's watch has made a TLS context of them first, so they
   * parse; a binding can fail all the same): grpc-js cannot swap a listener's certificate, so the
   * port is bound again with them. Unbinding closes the open connections gracefully (calls in
   * flight finish; exporters reconnect, to the new certificate); a connection attempted in the
   * moment between is refused, and exporters retry it (UNAVAILABLE). Should the new binding fail,
   * the files before are bound again — by a new server: grpc-js keeps a failed binding's entry for
   * its address and refuses every later binding of that address with other credentials — and the
   * failure is thrown.
   */
  async rebind(tls: SecureContextOptions): Promise<void> {
    this.server.unbind(this.address);
    try {
      await bind(this.server, this.address, credentials(tls));
      this.tls = tls;
    } catch (err) {
      this.server.tryShutdown(() => {});
      this.server = this.newServer();
      const before = await bind(this.server, this.address, credentials(this.tls)).then(
        () => 'it serves the ones before',
        (again: Error) => `nor the ones before (${again.message}): OTLP/gRPC is down until chainwatch restarts`,
      );
      throw new ChainwatchError(`receiver.tls: the OTLP/gRPC listener ${this.address} could not take the renewed files (${(err as Error).message}); ${before}`);
    }
  }

  /** In-flight calls finish, as HTTP's do; a deadline above (the service's) bounds the wait. */
  close(): Promise<void> {
    return new Promise((resolve) => this.server.tryShutdown(() => resolve()));
  }
}

/**
 * OTLP/gRPC's Export. Codes as the OTLP spec gives them: INVALID_ARGUMENT for what does not
 * decode (not retried), UNAVAILABLE under backpressure (retried), UNAUTHENTICATED without the
 * token, FAILED_PRECONDITION where this instance takes no traces; grpc-js itself answers
 * RESOURCE_EXHAUSTED past the size limit and decompresses gzip.
 */
function exportTraces(intake: GrpcIntake, call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void {
  intake.counted();
  const refuse = (reason: string, code: status, details: string): void => {
    intake.counted(reason);
    callback({ code, details });
  };
  if (!intake.admits(String(call.metadata.get('authorization')[0] ?? ''))) {
    return refuse('unauthorized', status.UNAUTHENTICATED, 'missing or wrong bearer token: send the metadata authorization: Bearer <token>, a token in the variable receiver.token_env names');
  }
  const refusal = intake.refusal();
  if (refusal !== undefined) return refuse('misdirected', status.FAILED_PRECONDITION, refusal);
  let batch: DecodedBatch;
  try {
    batch = intake.decode(call.request);
  } catch (err) {
    if (err instanceof OtlpDecodeError) return refuse('malformed', status.INVALID_ARGUMENT, `cannot decode ExportTraceServiceRequest: ${err.message}`);
    throw err;
  }
  try {
    const message = intake.take(batch);
    callback(null, Buffer.from(encodeExportResponse(batch.rejected, message)));
  } catch (err) {
    if (err instanceof BackpressureError) callback({ code: status.UNAVAILABLE, details: err.message });
    else throw err;
  }
}

/** A server with OTLP's TraceService/Export and the gRPC health check, no port bound yet. */
function exportServer(maxMessageBytes: number, intake: GrpcIntake): Server {
  const server = new Server({ 'grpc.max_receive_message_length': maxMessageBytes });
  server.addService({ Export: unary('/opentelemetry.proto.collector.trace.v1.TraceService/Export') }, {
    Export: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => exportTraces(intake, call, callback),
  });
  // grpc.health.v1 (Kubernetes gRPC probes, load balancers): SERVING (1) once ready, else NOT_SERVING (2), for any service asked.
  server.addService({ Check: unary('/grpc.health.v1.Health/Check') }, {
    Check: (_call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => callback(null, Buffer.from([0x08, intake.ready() ? 1 : 2])),
  });
  return server;
}

/** Server credentials for TLS files as read (a client CA among them asks for client certificates), or plaintext. */
function credentials(tls: SecureContextOptions | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(tls.ca ? Buffer.from(tls.ca as Buffer) : null, [{ private_key: tls.key as Buffer, cert_chain: tls.cert as Buffer }], tls.ca !== undefined);
}

/** Bind the server to host:port; the port bound. */
function bind(server: Server, address: string, creds: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(address, creds, (err, p) => (err ? reject(err) : resolve(p))));
}
