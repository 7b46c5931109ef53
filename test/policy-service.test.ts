/** Policies in the running service: alerts carry the verdict; hot reload keeps bad edits out. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Alert } from '../src/alerts.js';
import { Service } from '../src/service.js';
import { PolicyError } from '../src/errors.js';
import { agentTrace } from './helpers/spans.js';
import { until } from './helpers/until.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-policy-'));
const policyFile = join(dir, 'scope.yaml');
const policy = (denied: string, mode = 'enforce') => `version: 1
policies:
  - name: support
    match: { name: [support-agent] }
    mode: ${mode}
    kill_switch: true
    destinations: { deny: ["${denied}"] }
`;
writeFileSync(policyFile, policy('paste-*'));
const alerts: Alert[] = [];
const errors: string[] = [];
const service = new Service({
  stateDir: join(dir, 'state'), receiver: { port: 0 }, policies: [policyFile], onAlert: (a) => alerts.push(a),
  log: { info: () => {}, warn: () => {}, error: (_o, msg) => errors.push(msg) },
});
let url = '';
let t0 = Date.UTC(2026, 5, 1, 10);

beforeAll(async () => {
  url = `${await service.start()}/v1/traces`;
});
afterAll(async () => {
  await service.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function send(host: string): Promise<string> {
  t0 += 60_000;
  const tr = agentTrace({ t0, agentId: 'support-agent-09', tools: [{ tool: 'upload', method: 'POST', url: `https://${host}/api/v1/pastes` }] });
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(tr.doc) });
  expect(res.status).toBe(200);
  return tr.clientIds[0];
}


describe('policies in the service', () => {
  it('alerts with the policy verdict and the kill-switch mark, even for a brand-new agent', async () => {
    const span = await send('paste-drop.io');
    await until(() => alerts.some((a) => a.spanIds.includes(span)));
    const alert = alerts.find((a) => a.spanIds.includes(span))!;
    expect(alert.policy?.[0]).toMatchObject({ policy: 'support', rule: 'destinations.deny', killSwitch: true, allowed: 'never paste-drop.io' });
    expect(alert.killSwitch).toBe(true);
    expect(alert.agent.phase).toBe('learning');
    expect(service.engine.quarantine.has(alert.traceId)).toBe(true);
  });

  it('rejects a bad edit with its errors and keeps the previous policy in force', async () => {
    writeFileSync(policyFile, 'version: 1\npolicies:\n  - name: support\n    match: { name: [support-agent] }\n    destinations: { deny: "not-a-list" }\n');
    await until(() => errors.length > 0);
    expect(errors[0]).toMatch(/policy change rejected, previous policies stay in force/);
    expect(errors[0]).toMatch(/scope\.yaml:5:\d+: policies\[0\]\.destinations\.deny: must be array/);
    const span = await send('paste-bin.example');
    await until(() => alerts.some((a) => a.spanIds.includes(span)));
    expect(alerts.find((a) => a.spanIds.includes(span))?.policy?.[0].rule).toBe('destinations.deny');
  });

  it('takes a valid edit, and shadow mode records without alerting', async () => {
    writeFileSync(policyFile, policy('exfil.example', 'shadow'));
    await new Promise((r) => setTimeout(r, 600));
    const before = alerts.length;
    await send('exfil.example');
    const shadowFile = join(dir, 'state', 'shadow.jsonl');
    await until(() => existsSync(shadowFile));
    const rec = JSON.parse(readFileSync(shadowFile, 'utf8').trim().split('\n').pop()!);
    expect(rec.violation).toMatchObject({ rule: 'destinations.deny', mode: 'shadow' });
    expect(alerts.slice(before).filter((a) => a.policy)).toHaveLength(0);
  });

  it('refuses to start with an invalid policy', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'version: 1\npolicies: [ { name: x } ]\n');
    expect(() => new Service({ stateDir: join(dir, 's2'), receiver: { port: 0 }, policies: [bad] })).toThrow(PolicyError);
  });
});

describe('chainwatch policy CLI', () => {
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const tsx = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', tsx, cli, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });

  it('checks, dry-runs and suggests', () => {
    const fleet = fileURLToPath(new URL('../deploy/policies/fleet.yaml', import.meta.url));
    const ok = run('policy', 'check', fleet);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/ok: 5 policies, 2 rules/);
    writeFileSync(join(dir, 'broken.yaml'), 'version: 1\npolicies:\n  - name: x\n    match: { name: [a] }\n    limits: { chain_calls: lots }\n');
    const bad = run('policy', 'check', 'broken.yaml');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/broken\.yaml:5:28: policies\[0\]\.limits\.chain_calls: must be integer, not "lots" \[CW_ERR_POLICY\]/);

    expect(run('simulate', '--out', 'sim', '--agents-per-role', '2', '--history-days', '6', '--live-days', '1', '--attacks', '1').status).toBe(0);
    const scratch = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('chainwatch-policy-test-'));
    const before = scratch();
    const dry = run('policy', 'test', fleet, 'sim/live.jsonl');
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/\[support\/destinations\.email_domains\.allow\] .*evil-mail\.net/);
    expect(dry.stdout).toMatch(/chains checked/);
    expect(existsSync(join(dir, '.chainwatch'))).toBe(false);
    expect(scratch()).toEqual(before); // its own state for the run, removed after it

    expect(run('learn', 'sim/history.jsonl', '--state', 'st').status).toBe(0);
    const draft = run('policy', 'suggest', 'devops-agent-01', '--state', 'st');
    expect(draft.status, draft.stderr).toBe(0);
    expect(draft.stdout).toMatch(/api\.github\.com/);
    writeFileSync(join(dir, 'draft.yaml'), draft.stdout);
    expect(run('policy', 'check', 'draft.yaml').stdout).toMatch(/ok: 1 policies/);
  }, 120_000);
});
