/** What every SIEM format needs besides the alert: who we are, and where the trace can be seen. */
import type { Alert } from './alerts.js';
import type { Severity } from './severity.js';

export interface FormatOptions {
  vendor: string;
  product: string;
  version: string;
  /** A URL with {traceId} and optionally {spanId}, e.g. https://jaeger.example/trace/{traceId}. */
  linkTemplate?: string;
}

export const defaultFormatOptions: FormatOptions = { vendor: 'chainwatch', product: 'chainwatch', version: '0.1.0' };

/** The alert's trace in the user's tracing UI, when a template is configured. */
export function traceLink(alert: Alert, template: string | undefined): string | undefined {
  if (template === undefined) return undefined;
  return template.replaceAll('{traceId}', encodeURIComponent(alert.traceId)).replaceAll('{spanId}', encodeURIComponent(alert.spanIds[0] ?? ''));
}

/** The 0–10 scale of CEF and the 0–100 risk of ECS share one reading of our bands. */
export const SEVERITY_10: Record<Severity, number> = { info: 1, low: 3, medium: 5, high: 8, critical: 10 };
