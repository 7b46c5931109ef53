/** One span through a real OpenTelemetry exporter (HTTP or gRPC, as the caller built it): the error it reports, if any. */
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';

export async function exportOneSpan(exporter: SpanExporter): Promise<Error | undefined> {
  let result: ExportResult | undefined;
  // The exporter's own result, which a provider's flush does not pass on.
  const recorded: SpanExporter = { export: (spans, done) => exporter.export(spans, (r) => done((result = r))), shutdown: () => exporter.shutdown(), forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve() };
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(recorded)] });
  provider.getTracer('agent').startSpan('execute_tool search', { attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search' } }).end();
  await provider.forceFlush().catch(() => {});
  await provider.shutdown().catch(() => {});
  if (result === undefined) throw new Error('the exporter reported nothing');
  return result.code === ExportResultCode.SUCCESS ? undefined : (result.error ?? new Error('export failed without an error'));
}
