/** A raw OTLP/gRPC Export call: the bytes as given, the status it ends with. */
import { type ChannelCredentials, credentials, makeGenericClientConstructor, status, type ServiceError } from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;
const Client = makeGenericClientConstructor({
  Export: { path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
}, 'TraceService');

export function rawExport(address: string, body: Buffer, creds: ChannelCredentials = credentials.createInsecure(), options: Record<string, string> = {}): Promise<{ code: number; details: string }> {
  const client = new Client(address, creds, options) as unknown as { Export(b: Buffer, o: object, cb: (err: ServiceError | null) => void): void; close(): void };
  return new Promise((resolve) => client.Export(body, { deadline: Date.now() + 10_000 }, (err) => {
    client.close();
    resolve({ code: err?.code ?? status.OK, details: err?.details ?? '' });
  }));
}
