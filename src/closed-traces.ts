/**
 * The traces whose chains closed lately, by trace id, the earliest closed forgotten first past a
 * capacity: what a span arriving after its chain closed needs (its agent, the chain's start), and
 * the calls a chain fed with calls had. Every new trace is looked up here first, nearly always in
 * vain. A Map of them hashed each new 32-character id anew (V8 hashes a string the first time it
 * is a key) and followed its buckets through the old generation: 0.3–0.5 µs a lookup in a table of
 * 10,000 on the bench's workload, and as much again to remember a trace. A TraceTable takes the
 * hash the open traces' table has just taken of the same id, and compares hashes before ids.
 */
import type { AgentIdentity } from './agent-call.js';
import { type TraceEntry, TraceTable } from './trace-table.js';

/** A trace whose chain closed, remembered in case it resumes. */
export interface ClosedTrace {
  traceId: string;
  identity: AgentIdentity;
  startTime: number;
  principal?: string;
  /** Span ids of the chain's calls, for chains fed with calls: a call read again is a replay, not a new call. */
  callSpans?: string[];
}

type Closed = Omit<ClosedTrace, 'traceId'>;

interface Entry extends Closed, TraceEntry<Entry> {}

export class ClosedTraces {
  private readonly table = new TraceTable<Entry>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.table.size;
  }

  get(traceId: string): Readonly<ClosedTrace> | undefined {
    return this.table.get(traceId);
  }

  /** Remember a closed trace; one remembered already keeps its place (as a Map's key does). */
  set(traceId: string, c: Closed): void {
    const known = this.table.get(traceId);
    if (known !== undefined) {
      known.identity = c.identity;
      known.startTime = c.startTime;
      known.principal = c.principal;
      known.callSpans = c.callSpans;
      return;
    }
    if (this.table.size >= this.capacity) this.table.delete(this.table.first()!);
    this.table.add({
      traceId, identity: c.identity, startTime: c.startTime, principal: c.principal, callSpans: c.callSpans,
      prev: undefined, next: undefined, hash: 0, listed: false,
    });
  }

  /** Forget the traces `drop` picks. */
  deleteWhere(drop: (c: Readonly<ClosedTrace>) => boolean): void {
    for (const e of this.table.values()) if (drop(e)) this.table.delete(e);
  }

  /** Earliest closed first, each as a plain ClosedTrace. */
  *values(): IterableIterator<ClosedTrace> {
    for (const e of this.table.values()) {
      yield { traceId: e.traceId, identity: e.identity, startTime: e.startTime, principal: e.principal, callSpans: e.callSpans };
    }
  }
}
