/**
 * The state directory: the engine snapshot (state.json, written atomically) and the default
 * alerts file. Snapshots hold baselines and ids, never secrets (calls are redacted upstream).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { StateError } from './errors.js';
import type { Engine, EngineSnapshot } from './engine.js';

export class StateStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  get snapshotPath(): string {
    return join(this.dir, 'state.json');
  }

  get alertsPath(): string {
    return join(this.dir, 'alerts.jsonl');
  }

  load(engine: Engine): boolean {
    if (!existsSync(this.snapshotPath)) return false;
    let snap: EngineSnapshot;
    try {
      snap = JSON.parse(readFileSync(this.snapshotPath, 'utf8')) as EngineSnapshot;
    } catch (err) {
      throw new StateError(`cannot read ${this.snapshotPath}: ${(err as Error).message}; move it away to start fresh`, { cause: err });
    }
    engine.restore(snap);
    return true;
  }

  save(engine: Engine): void {
    const tmp = `${this.snapshotPath}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(engine.snapshot()));
    renameSync(tmp, this.snapshotPath);
  }
}
