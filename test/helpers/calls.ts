/**
 * The calls topic's events for these OTLP/JSON docs — calls and chain closes, keyed by agent — one
 * event per record, as an earlier release wrote them (the ingest stage now groups an agent's events
 * into records of the form in src/call-wire.ts; detect reads both).
 */
import { ChainAssembler } from '../../src/chains.js';
import { defaultEngineConfig } from '../../src/engine.js';
import type { CallItem } from '../../src/call-wire.js';
import { callEvents } from '../../src/kafka-ingest.js';
import { Normalizer } from '../../src/normalize.js';
import { decodeTraceRequestJson } from '../../src/otlp-json.js';

export function callsTopic(live: object[]): { key: string; value: string }[] {
  return events(live).map(({ key, item }) => ({ key, value: JSON.stringify(item) }));
}

/** The same, as the events the detect stage applies. */
export function callItems(live: object[]): CallItem[] {
  return callsTopic(live).map((m) => JSON.parse(m.value) as CallItem);
}

/** The events as the ingest stage builds them, before any serialization (calls as normalize makes them). */
export function events(live: object[]): { key: string; item: CallItem }[] {
  const out: { key: string; item: CallItem }[] = [];
  const norm = new Normalizer(defaultEngineConfig.normalize);
  const assembler = new ChainAssembler(norm, callEvents((key, item) => out.push({ key, item })), defaultEngineConfig.chains);
  for (const doc of live) assembler.addBatch(decodeTraceRequestJson(doc, norm.filter).spans);
  assembler.flush();
  return out;
}
