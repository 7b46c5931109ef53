/**
 * The state directory: engine snapshots in the embedded database (state.db; the last few kept so
 * a bad one can be rolled back by hand) and the default alerts file. Snapshots hold baselines
 * and ids, never secrets (calls are redacted upstream). A state.json left by an older chainwatch
 * is read once when the database has no snapshot yet.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StateError } from './errors.js';
import type { Engine, EngineSnapshot } from './engine.js';
import { type Db, openDatabase } from './sqlite-db.js';

const KEEP_SNAPSHOTS = 3;

export class StateStore {
  readonly db: Db;

  constructor(readonly dir: string) {
    this.db = openDatabase(dir);
  }

  get alertsPath(): string {
    return join(this.dir, 'alerts.jsonl');
  }

  /** The latest snapshot, or undefined when none was ever saved. */
  latest(): EngineSnapshot | undefined {
    const row = this.db.prepare('SELECT body FROM snapshots ORDER BY id DESC LIMIT 1').get() as { body: string } | undefined;
    const legacy = join(this.dir, 'state.json');
    const [text, where] = row ? [row.body, `${join(this.dir, 'state.db')} (snapshots)`] : existsSync(legacy) ? [readFileSync(legacy, 'utf8'), legacy] : [undefined, ''];
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as EngineSnapshot;
    } catch (err) {
      throw new StateError(`cannot read the snapshot in ${where}: ${(err as Error).message}; move it away to start fresh`, { cause: err });
    }
  }

  load(engine: Engine): boolean {
    const snap = this.latest();
    if (snap === undefined) return false;
    engine.restore(snap);
    return true;
  }

  save(engine: Engine): void {
    const snap = engine.snapshot();
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO snapshots (taken_at, watermark, body) VALUES (?, ?, ?)').run(Date.now(), Math.round(snap.watermark), JSON.stringify(snap));
      this.db.prepare('DELETE FROM snapshots WHERE id <= (SELECT MAX(id) FROM snapshots) - ?').run(KEEP_SNAPSHOTS);
    })();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
