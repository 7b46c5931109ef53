/**
 * The state directory: engine state in the embedded database (state.db) and the default alerts
 * file. State is kept by agent — a row per agent baseline in agent_state, and a row each for what
 * agents share (peer groups, credential owners, resource aliases, quarantined chains, the
 * watermark) in shared_state — so a save writes the agents changed since the last one, never the
 * whole fleet as one string. State holds baselines and ids, never secrets (calls are redacted
 * upstream). A whole-fleet snapshot left by an earlier chainwatch (the snapshots table, or a
 * state.json before that) is read once when there is no state by agent yet, and written by agent
 * at the next save.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { StateError } from './errors.js';
import { type AgentJson, type Engine, type EngineSnapshot, SHARED_KEYS, type SharedKey } from './engine.js';
import { type Db, openDatabase } from './sqlite-db.js';

/** Agents written per transaction by a save in slices, between which the event loop runs. */
export const SAVE_SLICE = 200;

/** What a save wrote. */
export interface SaveResult {
  agents: number;
  deleted: number;
}

export class StateStore {
  readonly db: Db;
  /** The version of each seldom-changing shared part as last written (Engine.sharedVersion), and whose. */
  private written = new Map<SharedKey, number>();
  private writtenFor: Engine | undefined;

  constructor(readonly dir: string) {
    this.db = openDatabase(dir);
  }

  get alertsPath(): string {
    return join(this.dir, 'alerts.jsonl');
  }

  /** The saved state, or undefined when none was ever saved; `legacy` when read from a whole-fleet snapshot. */
  latest(): { snapshot: EngineSnapshot; legacy: boolean } | undefined {
    const shared = this.db.prepare('SELECT key, body FROM shared_state').all() as { key: string; body: string }[];
    if (shared.length > 0) {
      const where = `${join(this.dir, 'state.db')} (agent_state, shared_state)`;
      const snap = {} as Record<string, unknown>;
      for (const { key, body } of shared) snap[key] = parse(body, where);
      // Written last first: the cap drops the least recently active agent, as before the restart.
      const rows = this.db.prepare('SELECT body FROM agent_state ORDER BY rowid').all() as { body: string }[];
      snap.agents = rows.map((r) => parse(r.body, where) as AgentJson);
      return { snapshot: snap as unknown as EngineSnapshot, legacy: false };
    }
    const row = this.db.prepare('SELECT body FROM snapshots ORDER BY id DESC LIMIT 1').get() as { body: string } | undefined;
    const legacyFile = join(this.dir, 'state.json');
    const [text, where] = row ? [row.body, `${join(this.dir, 'state.db')} (snapshots)`] : existsSync(legacyFile) ? [readFileSync(legacyFile, 'utf8'), legacyFile] : [undefined, ''];
    if (text === undefined) return undefined;
    return { snapshot: parse(text, where) as EngineSnapshot, legacy: true };
  }

  load(engine: Engine): boolean {
    const saved = this.latest();
    if (saved === undefined) return false;
    engine.restore(saved.snapshot);
    if (saved.legacy) engine.markAllChanged();
    return true;
  }

  /** Write the agents changed since the last save and what they share, in one transaction. */
  save(engine: Engine): SaveResult {
    const { changed, dropped } = engine.takeChanges();
    let agents = 0;
    let written: Map<SharedKey, number> | undefined;
    try {
      this.db.transaction(() => {
        agents = this.writeAgents(engine, changed);
        written = this.writeShared(engine, dropped);
      })();
    } catch (err) {
      engine.putBackChanges({ changed, dropped });
      throw err;
    }
    this.written = written!; // committed
    this.writtenFor = engine;
    return { agents, deleted: dropped.length };
  }

  /**
   * The same, a slice of agents per transaction with the event loop let run between them (a live
   * service: a few thousand changed agents took the loop for seconds). Each agent's row is whole
   * as of its slice; an agent that changes again meanwhile is written by the next save.
   */
  async saveInSlices(engine: Engine, slice = SAVE_SLICE): Promise<SaveResult> {
    const changes = engine.takeChanges();
    const { changed, dropped } = changes;
    let agents = 0;
    try {
      for (let i = 0; i < changed.length; i += slice) {
        if (i > 0) await yieldToLoop();
        this.db.transaction(() => (agents += this.writeAgents(engine, changed.slice(i, i + slice))))();
      }
      this.written = this.db.transaction(() => this.writeShared(engine, dropped))();
      this.writtenFor = engine;
    } catch (err) {
      engine.putBackChanges(changes); // written again, whole, by the next save
      throw err;
    }
    return { agents, deleted: dropped.length };
  }

  private writeAgents(engine: Engine, changed: ReturnType<Engine['takeChanges']>['changed']): number {
    // REPLACE gives the row a new rowid: rowid order is the order agents were last written.
    const put = this.db.prepare('INSERT OR REPLACE INTO agent_state (id, body) VALUES (?, ?)');
    let n = 0;
    for (const agent of changed) {
      const json = engine.agentJsonOf(agent);
      if (json === undefined) continue; // dropped or replaced since: its id is in a later save's changes
      put.run(json.id, JSON.stringify(json));
      n++;
    }
    return n;
  }

  /** Deletes the dropped agents and writes the shared parts that changed; returns their versions as written. */
  private writeShared(engine: Engine, dropped: string[]): Map<SharedKey, number> {
    const del = this.db.prepare('DELETE FROM agent_state WHERE id = ?');
    for (const id of dropped) del.run(id);
    const put = this.db.prepare('INSERT OR REPLACE INTO shared_state (key, body) VALUES (?, ?)');
    const written = new Map<SharedKey, number>();
    for (const key of SHARED_KEYS) {
      const version = engine.sharedVersion(key);
      if (version !== undefined) written.set(key, version);
      if (version !== undefined && engine === this.writtenFor && this.written.get(key) === version) continue;
      put.run(key, JSON.stringify(engine.sharedPart(key)));
    }
    return written;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function parse(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new StateError(`cannot read the saved state in ${where}: ${(err as Error).message}; move it away to start fresh`, { cause: err });
  }
}
