/**
 * AgentCall records read from outside (replay files, plain records on the Kafka calls topic) are
 * checked against schemas/agent-call.schema.json before anything reads them: a call missing a
 * field the detectors rely on (its destinations, its outcome) stopped a replay with a TypeError
 * deep in the engine, instead of being one bad record.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { AgentCall } from './agent-call.js';
import { packagePath } from './package-path.js';

const validCall = new Ajv2020({ allErrors: false, strict: false }).compile<AgentCall>(
  JSON.parse(readFileSync(packagePath('schemas', 'agent-call.schema.json'), 'utf8')) as object,
);

/** What is wrong with a would-be AgentCall, naming the field, or undefined when it is one. */
export function callProblem(x: unknown): string | undefined {
  if (validCall(x)) return undefined;
  const e = validCall.errors![0];
  const where = e.instancePath === '' ? 'the call' : `field ${e.instancePath.slice(1).replaceAll('/', '.')}`;
  const allowed = e.keyword === 'enum' ? ` (one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})` : '';
  return `${where} ${e.message}${allowed}; see schemas/agent-call.schema.json`;
}
