/** Raw gRPC calls to chainwatch's receiver: Export with the bytes as given (the status it ends with), and the health check.*/
import { type ChannelCredentials, credentials, makeGenericClientConstructor, status, type ServiceError } from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;
const unary = (path: string) => ({ path, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity });
const Client = makeGenericClientConstructor({ Export: unary('/opentelemetry.proto.collector.trace.v1.TraceService/Export'), Check: unary('/grpc.health.v1.Health/Check') }, 'Raw');
type Call = (b: Buffer, o: object, cb: (err: ServiceError | null, answer?: Buffer) => void) => void;

function call(method: 'Export' | 'Check', address: string, body: Buffer, creds: ChannelCredentials, options: Record<string, string>): Promise<{ code: number; details: string; answer?: Buffer }> {
  const client = new Client(address, creds, options) as unknown as Record<'Export' | 'Check', Call> & { close(): void };
  return new Promise((resolve) => client[method].call(client, body, { deadline: Date.now() + 10_000 }, (err, answer) => {
    client.close();
    resolve({ code: err?.code ?? status.OK, details: err?.details ?? '', ...(answer ? { answer } : {}) });
  }));
}

export async function rawExport(address: string, body: Buffer, creds: ChannelCredentials = credentials.createInsecure(), options: Record<string, string> = {}): Promise<{ code: number; details: string }> {
  const { code, details } = await call('Export', address, body, creds, options);
  return { code, details };
}

/** grpc.health.v1 Check: the serving status answered (1 SERVING, 2 NOT_SERVING). */
export async function healthCheck(address: string): Promise<number | undefined> {
  const { answer } = await call('Check', address, Buffer.alloc(0), credentials.createInsecure(), {});
  return answer?.[1];
}
