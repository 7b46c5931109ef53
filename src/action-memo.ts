/**
 * One action object for the calls that do the same thing: an agent's calls repeat a few dozen
 * actions, and building each call's signature string anew (then hashing it for the sensitive
 * globs' memo, and again in every table that looks it up) made the glob memo alone a fifth of
 * normalize's time (3.4% of the whole path against 17%, in a CPU profile of the bench's workload).
 * Entries are found by where the action goes (a host, a tool name) and its parts, compared by
 * value, so a hit builds nothing; each entry also keeps its sensitive-glob and external-host
 * answers, asked once per entry instead of once per call. The memo stops admitting at `max`
 * entries, as the glob memos do: frequent actions arrive early and stay; a stream of new ones is
 * built each time.
 *
 * Shared action objects are read-only: nothing downstream of normalize changes a call's action.
 */
import type { AgentCall } from './agent-call.js';
import type { PathScan } from './url-template.js';

export type Action = AgentCall['action'];

export interface KnownAction {
  action: Action;
  /** Whether the signature or the tool's name matches the sensitive globs. */
  sensitive: boolean;
  /** Whether the place is an external host (false for a tool's name). */
  external: boolean;
}

/** Entries a place may hold: a host with more distinct actions than this builds the rest each time. */
const PER_PLACE = 64;
/**
 * Signatures longer than this are not kept: real ones are a method, a host and a short template,
 * and a stream of long unique paths must not hold megabytes of strings for the process's life.
 */
const MAX_SIGNATURE = 256;

export class ActionMemo {
  private readonly byPlace = new Map<string, KnownAction[]>();
  private entries = 0;

  constructor(private readonly max: number) {}

  /** The entry for this action at `place`, or undefined. */
  find(place: string, kind: Action['kind'], method: string | undefined, template: string | undefined, version: string | undefined, tool: string | undefined): KnownAction | undefined {
    const list = this.byPlace.get(place);
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i++) {
      const a = list[i].action;
      if (a.kind === kind && a.method === method && a.template === template && a.version === version && a.tool === tool) return list[i];
    }
    return undefined;
  }

  /**
   * The HTTP entry at `place` whose template is the scanned path's (see PathScan.is): find without
   * the call's template built first.
   */
  findByPath(place: string, method: string, tool: string | undefined, path: PathScan): KnownAction | undefined {
    const list = this.byPlace.get(place);
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i++) {
      const a = list[i].action;
      if (a.kind === 'http' && a.method === method && a.tool === tool && a.template !== undefined && path.is(a.template, a.version)) return list[i];
    }
    return undefined;
  }

  /**
   * Whether `add` would keep an action at `place` with this signature: when it will, the entry
   * keeps the action's sensitive and external answers, and the caller need not memoize them too.
   */
  keeps(place: string, signature: string): boolean {
    if (this.entries >= this.max || signature.length > MAX_SIGNATURE) return false;
    const list = this.byPlace.get(place);
    return list === undefined || list.length < PER_PLACE;
  }

  /**
   * The external answer of the HTTP actions kept at `place` (a function of the host alone), or
   * undefined when none is kept. Only theirs: a tool may bear a host's name, and a tool's action
   * is never external.
   */
  externalAt(place: string): boolean | undefined {
    const list = this.byPlace.get(place);
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i++) if (list[i].action.kind === 'http') return list[i].external;
    return undefined;
  }

  /**
   * Remember an action found at `place` (the caller's find missed). `action`'s signature must be
   * a function of `place` and the parts find compares, its write flag and `sensitive` of those
   * parts (the tool's name included), and `external` of `place` alone (false for a tool's action).
   */
  add(place: string, action: Action, sensitive: boolean, external: boolean): KnownAction {
    const known: KnownAction = { action, sensitive, external };
    if (this.entries >= this.max || action.signature.length > MAX_SIGNATURE) return known;
    let list = this.byPlace.get(place);
    if (list === undefined) {
      list = [];
      this.byPlace.set(place, list);
    }
    if (list.length < PER_PLACE) {
      list.push(known);
      this.entries++;
    }
    return known;
  }
}
