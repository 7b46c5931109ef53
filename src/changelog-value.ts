/**
 * The detect stage's changelog record: one agent's state (Engine.exportAgents) after applying its
 * calls up to `offset` of its partition. JSON, written at every commit for every agent touched
 * since the last one, so its size and its cost are paid over and over (and the broker reads it all
 * again to validate each batch). Three things keep both down:
 *
 * - Recently closed traces, most of an agent's record (kept so a trace that resumes keeps its
 *   chain's start and a call read again is known), are written as tuples
 *   `[traceId, startTime, identity, principal, callSpans]` with the agent identities they name
 *   in a table beside them, not one identity object per trace: 16 of the Kafka bench agents' 23 KB
 *   were these, at 328 bytes a trace where a tuple takes about 160.
 * - Only open chains hold Sets and Maps (detectors' per-chain scratch), so only they go through
 *   the replacer that writes them; `JSON.stringify` with a replacer calls back into JavaScript for
 *   every value, and over the whole record cost 60% more than without.
 * - Quarantined chains (flagged, held back from learning) keep their calls in the calls topic's
 *   form (src/call-wire.ts): tuples and tables, about a third of the plain objects' bytes.
 *
 * Records written by the previous release (closed traces and quarantined calls as plain objects)
 * are still read.
 * The value starts `{"offset":N`, so the offset stamp is read without parsing the rest.
 */
import { type AgentCall, type AgentIdentity, sameIdentity } from './agent-call.js';
import { type WireCalls, fromWire, toWire } from './call-wire.js';
import type { ClosedTrace } from './chains.js';
import type { AgentRecord, Quarantined } from './engine.js';
import { StateError } from './errors.js';
import { parseWithSets, stringifyWithSets } from './json-sets.js';

export interface ChangelogValue {
  offset: number;
  state: AgentRecord;
}

/** [traceId, startTime, index into the identity table, principal, callSpans] — the last two null when absent. */
type ClosedTuple = [string, number, number, string | null, string[] | null];
interface CompactClosed { ids: AgentIdentity[]; t: ClosedTuple[] }

/** What the encoder writes field by field. */
type Written = 'version' | 'agent' | 'chains' | 'closed' | 'rollups' | 'quarantine';
// A field added to AgentRecord and not written below fails to compile here.
const everyField: Exclude<keyof AgentRecord, Written> extends never ? true : never = true;
void everyField;

function compactClosed(closed: ClosedTrace[]): CompactClosed {
  const ids: AgentIdentity[] = [];
  const t: ClosedTuple[] = [];
  for (const c of closed) {
    let i = ids.findIndex((id) => sameIdentity(id, c.identity));
    if (i < 0) i = ids.push(c.identity) - 1;
    t.push([c.traceId, c.startTime, i, c.principal ?? null, c.callSpans ?? null]);
  }
  return { ids, t };
}

function expandClosed(closed: CompactClosed | ClosedTrace[]): ClosedTrace[] {
  if (Array.isArray(closed)) return closed;
  if (!Array.isArray(closed?.ids) || !Array.isArray(closed.t)) throw new StateError('changelog record: closed traces are neither a list nor {ids, t} tables');
  return closed.t.map(([traceId, startTime, i, principal, callSpans]) => {
    const identity = closed.ids[i];
    if (typeof traceId !== 'string' || typeof identity?.id !== 'string') throw new StateError(`closed trace ${String(traceId)} lacks its trace id or names identity ${i}, which the table lacks`);
    const c: ClosedTrace = { traceId, identity, startTime };
    if (principal !== null) c.principal = principal;
    if (callSpans !== null) c.callSpans = callSpans;
    return c;
  });
}

type StoredQuarantine = Omit<Quarantined, 'calls'> & { calls: WireCalls | AgentCall[] };

function compactQuarantine(q: Quarantined): StoredQuarantine {
  return { ...q, calls: toWire(q.calls.map((call) => ({ t: 'call', call }))) };
}

function expandQuarantine(q: StoredQuarantine): Quarantined {
  if (Array.isArray(q.calls)) return q as Quarantined;
  return { ...q, calls: fromWire(q.calls).flatMap((item) => (item.t === 'call' ? [item.call] : [])) };
}

export function encodeChangelogValue({ offset, state: s }: ChangelogValue): string {
  return `{"offset":${offset},"state":{"version":${s.version},"agent":${JSON.stringify(s.agent)},"chains":${stringifyWithSets(s.chains)},`
    + `"closed":${JSON.stringify(compactClosed(s.closed))},"rollups":${JSON.stringify(s.rollups)},"quarantine":${JSON.stringify(s.quarantine.map(compactQuarantine))}}}`;
}

/** A record as `encodeChangelogValue` or the previous release wrote it; a StateError says what is wrong with one that is not. */
export function decodeChangelogValue(text: string): ChangelogValue {
  type Stored = Omit<AgentRecord, 'closed' | 'quarantine'> & { closed: CompactClosed | ClosedTrace[]; quarantine: StoredQuarantine[] };
  let v: { offset: number; state: Stored };
  try {
    v = parseWithSets<{ offset: number; state: Stored }>(text);
  } catch (err) {
    throw new StateError(`changelog record is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof v?.offset !== 'number' || typeof v.state?.agent?.id !== 'string') throw new StateError('changelog record lacks its offset stamp or its agent');
  try {
    return { offset: v.offset, state: { ...v.state, closed: expandClosed(v.state.closed), quarantine: (v.state.quarantine ?? []).map(expandQuarantine) } };
  } catch (err) {
    throw new StateError(`changelog record of agent ${v.state.agent.id}: ${(err as Error).message}`, { cause: err });
  }
}

/** The offset stamp at the head of a changelog value, without parsing the rest; -1 if it has none. */
export function stampOf(value: string): number {
  const m = /^\{"offset":(\d+)/.exec(value);
  return m ? Number(m[1]) : -1;
}
