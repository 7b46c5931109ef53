/** Test helpers: run OTLP/JSON documents through a real engine, in process. */
import type { KeyFilter } from '../../src/attribute-map.js';
import type { Alert } from '../../src/alerts.js';
import { Engine, type EngineConfig, defaultEngineConfig } from '../../src/engine.js';
import { decodeTraceRequestJson } from '../../src/otlp-json.js';

export function newEngine(overrides: Partial<EngineConfig> = {}): { engine: Engine; alerts: Alert[]; filter: KeyFilter } {
  const alerts: Alert[] = [];
  const config = { ...defaultEngineConfig, ...overrides };
  const engine = new Engine(config, (a) => alerts.push(a));
  return { engine, alerts, filter: engine.norm.filter };
}

export function feed(engine: Engine, filter: KeyFilter, docs: object[]): void {
  for (const doc of docs) engine.ingestSpans(decodeTraceRequestJson(doc, filter).spans);
}
