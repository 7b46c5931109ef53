/** Raw gRPC calls to chainwatch's receiver: Export with the bytes as given (the status it ends with), and the health check.*/
import { type ChannelCredentials, credentials, makeGenericClientConstructor, status, type ServiceError } from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;
const unary = (path: string) => ({ path, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity });
const Client = makeGenericClientConstructor({ Export: unary('/opentelemetry.proto.collector.trace.v1.TraceService/Export'), Check: unary('/grpc.health.v1.Health/Check') }, 'Raw');
type Call = (b: Buffer, o: object, cb: (err: ServiceError | null, answer?: Buffer) => void) => void;

/** A client kept open across calls (its channel reconnects when the server closes a connection). */
export function rawClient(address: string, creds: ChannelCredentials = credentials.createInsecure(), options: Record<string, string> = {}) {
  const client = new Client(address, creds, options) as unknown as Record<'Export' | 'Check', Call> & { close(): void };
  return {
    call: (method: 'Export' | 'Check', body: Buffer): Promise<{ code: number; details: string; answer?: Buffer }> =>
      new Promise((resolve) => client[method].call(client, body, { deadline: Date.now() + 10_000 }, (err, answer) => {
        resolve({ code: err?.code ?? status.OK, details: err?.details ?? '', ...(answer ? { answer } : {}) });
      })),
    close: () => client.close(),
  };
}

async function call(method: 'Export' | 'Check', address: string, body: Buffer, creds: ChannelCredentials, options: Record<string, string>): Promise<{ code: number; details: string; answer?: Buffer }> {
  const client = rawClient(address, creds, options);
  try {
    return await client.call(method, body);
  } finally {
    client.close();
  }
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
