/**
 * Hot reload of policy files: on change, the whole set is loaded again and installed only if it
 * is valid; a bad edit is reported with its errors and the policies in force stay in force.
 */
import { watch, type FSWatcher } from 'node:fs';
import { dirname, basename, resolve } from 'node:path';
import { PolicyError } from './errors.js';
import { PolicyEngine } from './policy-engine.js';
import { loadPolicies } from './policy-load.js';

export interface PolicyWatchEvents {
  loaded(engine: PolicyEngine): void;
  rejected(err: PolicyError): void;
}

export class PolicyWatcher {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly files: string[], private readonly events: PolicyWatchEvents, readonly debounceMs = 200) {}

  /** Load now (throws PolicyError if invalid: at startup a bad policy is fatal), then watch. */
  start(): PolicyEngine {
    const engine = new PolicyEngine(loadPolicies(this.files));
    const wanted = new Set(this.files.map((f) => resolve(f)));
    // Watch directories: editors replace files by rename, which ends a watch on the file itself.
    for (const dir of new Set(this.files.map((f) => dirname(resolve(f))))) {
      const w = watch(dir, (_event, name) => {
        if (name !== null && wanted.has(resolve(dir, basename(String(name))))) this.schedule();
      });
      w.unref();
      this.watchers.push(w);
    }
    return engine;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload(), this.debounceMs);
    this.timer.unref();
  }

  reload(): void {
    try {
      this.events.loaded(new PolicyEngine(loadPolicies(this.files)));
    } catch (err) {
      if (err instanceof PolicyError) this.events.rejected(err);
      else throw err;
    }
  }

  close(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
  }
}
