import { describe, expect, it } from 'vitest';
import { defaultDetectorSettings } from './types.js';
import { newAction } from './new-action.js';
import { Harness, T0, DAY_MS, mkCall, routine } from '../test/helpers/detector-harness.js';

const make = () => new Harness(newAction(defaultDetectorSettings));
const v = (ver: string, t: number) => [
  mkCall({ time: t, sig: 'GET tickets.corp.internal/api/{ver}/tickets/{id}', tool: 'get_ticket', action: { kind: 'http', signature: 'GET tickets.corp.internal/api/{ver}/tickets/{id}', version: ver, write: false, tool: 'get_ticket' } }),
  mkCall({ time: t + 1, action: { kind: 'http', signature: 'POST tickets.corp.internal/api/{ver}/tickets/{id}/replies', version: ver, write: true, tool: 'reply_ticket' } }),
];

describe('new-action', () => {
  it('flags an admin endpoint never called before, naming what is normal', () => {
    const h = make();
    routine(h, 20, 10, (t) => v('v2', t));
    const [f] = h.score([mkCall({ time: T0 + 21 * DAY_MS, host: 'iam.corp.internal', action: { kind: 'http', signature: 'POST iam.corp.internal/{ver}/admin/users/{id}/roles', write: true } })]);
    expect(f?.signature).toBe('new-action:POST iam.corp.internal/{ver}/admin/users/{id}/roles');
    expect(f?.reason).toMatch(/never called by support-agent-01 in \d+ days of history/);
    expect(f?.expected).toContain('tickets.corp.internal');
  });

  it('flags a tool the agent never used', () => {
    const h = make();
    routine(h, 20, 10, (t) => v('v2', t));
    const [f] = h.score([mkCall({ time: T0 + 21 * DAY_MS, action: { kind: 'tool', signature: 'tool delete_repo', tool: 'delete_repo', write: true } })]);
    expect(f?.title).toBe('New tool delete_repo');
  });

  it('treats an API version bump as one low drift finding, not new actions', () => {
    const h = make();
    routine(h, 20, 10, (t) => v('v2', t));
    const findings = h.score(v('v3', T0 + 21 * DAY_MS));
    expect(findings.every((f) => f === undefined || (f.signature === 'api-drift:tickets.corp.internal' && f.score < 0.5))).toBe(true);
    expect(findings.some((f) => f?.signature === 'api-drift:tickets.corp.internal')).toBe(true);
    h.learn(v('v3', T0 + 21 * DAY_MS + 1000));
    expect(h.score(v('v3', T0 + 21 * DAY_MS + 5000)).every((f) => f === undefined)).toBe(true);
  });

  it('survives snapshot and restore', () => {
    const h = make();
    routine(h, 5, 10, (t) => v('v2', t));
    h.roundTrip();
    expect(h.score(v('v2', T0 + 6 * DAY_MS)).every((f) => f === undefined)).toBe(true);
  });
});
