/**
 * The response policy: which alerts revoke the credential they were made with, and how. Rules
 * are tried in order, the first match decides its mode: `off` (nothing), `dry-run` (recorded,
 * never sent), `approve` (recorded, sent once a person approves) or `auto` (sent at once). Two
 * brakes apply to `auto`: a blast-radius cap (at most N automatic revocations per window; past
 * it, a revocation waits for approval instead) and a per-credential cooldown (no second
 * revocation of the same credential within it).
 */
import type { Alert } from './alerts.js';
import { globMatcher } from './glob.js';
import { type Severity, severityRank } from './severity.js';

export type ResponseMode = 'off' | 'dry-run' | 'approve' | 'auto';

export interface ResponseRule {
  name: string;
  /** Globs on the agent id, name or group; any matches. Absent: every agent. */
  agents?: string[];
  minSeverity?: Severity;
  /** Any of these detectors in the alert ('policy' for declared-scope verdicts). */
  detectors?: string[];
  /** Any of these policy rules, as "policy:rule" globs (e.g. "support:destinations.*"). */
  policyRules?: string[];
  /** Only alerts a policy marked as kill-switch triggers. */
  killSwitch?: boolean;
  mode: ResponseMode;
}

export interface ResponsePolicy {
  rules: ResponseRule[];
  blastRadius: { max: number; windowMs: number };
  cooldownMs: number;
}

export interface Decision { mode: Exclude<ResponseMode, 'off'>; rule: string; reason: string }

export class ResponseDecider {
  private readonly matchers: ((a: Alert) => boolean)[];
  private recentAuto: number[] = [];

  constructor(readonly policy: ResponsePolicy) {
    this.matchers = policy.rules.map((r) => {
      const agents = r.agents && globMatcher(r.agents);
      const rules = r.policyRules && globMatcher(r.policyRules);
      return (a: Alert): boolean => {
        if (agents && !(agents(a.agent.id) || (a.agent.name !== undefined && agents(a.agent.name)) || agents(a.agent.group))) return false;
        if (r.minSeverity && severityRank(a.severity) < severityRank(r.minSeverity)) return false;
        if (r.detectors && !a.detectors.some((d) => r.detectors!.includes(d))) return false;
        if (rules && !(a.policy ?? []).some((p) => rules(`${p.policy}:${p.rule}`))) return false;
        if (r.killSwitch && a.killSwitch !== true) return false;
        return true;
      };
    });
  }

  /**
   * What to do about an alert now (wall-clock `now`); `lastRevocation` is when this credential was
   * last revoked, if ever. Undefined: nothing.
   */
  decide(a: Alert, now: number, lastRevocation: number | undefined): Decision | undefined {
    if (a.credential === undefined || a.update === true) return undefined;
    const i = this.matchers.findIndex((m) => m(a));
    if (i < 0) return undefined;
    const rule = this.policy.rules[i];
    if (rule.mode === 'off') return undefined;
    if (lastRevocation !== undefined && now - lastRevocation < this.policy.cooldownMs) return undefined;
    const base = `rule ${rule.name}: ${a.severity} alert "${a.title}" (${a.detectors.join(', ')})`;
    if (rule.mode !== 'auto') return { mode: rule.mode, rule: rule.name, reason: base };
    const { max, windowMs } = this.policy.blastRadius;
    this.recentAuto = this.recentAuto.filter((t) => now - t < windowMs);
    if (this.recentAuto.length >= max) {
      return { mode: 'approve', rule: rule.name, reason: `${base}; blast-radius cap reached (${max} automatic revocations in ${Math.round(windowMs / 1000)} s), so it waits for approval` };
    }
    this.recentAuto.push(now);
    return { mode: 'auto', rule: rule.name, reason: base };
  }
}
