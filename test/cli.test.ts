/** The chainwatch command line, run as a child process the way users run it. */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
// The TypeScript loader by absolute URL: the commands run in temporary directories.
const tsx = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const run = (args: string[], cwd: string) => spawnSync(process.execPath, ['--import', tsx, cli, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });

describe('chainwatch CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chainwatch-cli-'));

  it('simulates, learns, replays deterministically, evaluates and shows a baseline', () => {
    const sim = run(['simulate', '--out', 'sim', '--agents-per-role', '2', '--history-days', '8', '--live-days', '2', '--attacks', '2'], dir);
    expect(sim.status, sim.stderr).toBe(0);
    expect(sim.stdout).toMatch(/labels\.jsonl \(\d+ chains, 16 attacks\)/);

    const learn = run(['learn', 'sim/history.jsonl', '--state', 'st'], dir);
    expect(learn.status, learn.stderr).toBe(0);
    expect(learn.stdout).toMatch(/agents by phase: enforcing 10/);
    cpSync(join(dir, 'st'), join(dir, 'st2'), { recursive: true });

    // A replay file with damage: the bad lines are reported with file:line and skipped.
    cpSync(join(dir, 'sim/live.jsonl'), join(dir, 'live.jsonl'));
    appendFileSync(join(dir, 'live.jsonl'), 'not json\n{"hello": 1}\n{"resourceSpans": 7}\n');
    const replay = run(['replay', 'live.jsonl', '--state', 'st', '--alerts', 'a1.jsonl'], dir);
    expect(replay.status, replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(/alerts: info 0, low \d+, medium \d+, high \d+, critical [1-9]/);
    expect(replay.stdout).toMatch(/3 bad lines/);
    expect(replay.stdout).toMatch(/live\.jsonl:\d+: not JSON/);
    expect(replay.stdout).toMatch(/neither an OTLP\/JSON request/);

    const again = run(['replay', 'live.jsonl', '--state', 'st2', '--alerts', 'a2.jsonl'], dir);
    expect(again.status).toBe(0);
    expect(readFileSync(join(dir, 'a2.jsonl'), 'utf8')).toBe(readFileSync(join(dir, 'a1.jsonl'), 'utf8'));

    const ev = run(['eval', '--labels', 'sim/labels.jsonl', '--alerts', 'a1.jsonl'], dir);
    expect(ev.status).toBe(0);
    expect(ev.stdout).toMatch(/\| exfiltration \| 2 \| 2 \|/);
    expect(ev.stdout).toMatch(/False positives: \d+ of \d+ benign chains/);

    const show = run(['baseline', 'show', 'billing-agent-01', '--state', 'st'], dir);
    expect(show.status, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/Agent billing-agent-01 \(billing-agent\)/);
    expect(show.stdout).toMatch(/api\.stripe\.com/);
    expect(show.stdout).toMatch(/phase: enforcing/);

    // An analyst confirms a held-back chain; then the same trace is no longer held back.
    const labels = readFileSync(join(dir, 'sim/labels.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const exfil = labels.find((l) => l.label === 'exfiltration');
    const confirm = run(['alerts', 'confirm', exfil.traceId, '--state', 'st'], dir);
    expect(confirm.status, confirm.stderr).toBe(0);
    expect(confirm.stdout).toContain(`learned chain ${exfil.traceId}`);
    expect(run(['alerts', 'confirm', exfil.traceId, '--state', 'st'], dir).stderr).toMatch(/is not held back/);

    const forget = run(['baseline', 'forget', 'billing-agent-01', '--state', 'st'], dir);
    expect(forget.status, forget.stderr).toBe(0);
    expect(run(['baseline', 'show', 'billing-agent-01', '--state', 'st'], dir).stderr).toMatch(/no baseline for agent "billing-agent-01"/);
  }, 120_000);

  it('fails with a clear message and exit code 1 for an unknown agent or missing state', () => {
    const none = run(['baseline', 'show', 'nobody', '--state', join(dir, 'empty')], dir);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/no state in .*empty: run chainwatch learn first \[CW_ERR\]/);
    const unknown = run(['baseline', 'show', 'nobody', '--state', 'st'], dir);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/no baseline for agent "nobody"; known agents: /);
  }, 60_000);

  it('prints help listing every command', () => {
    const out = execFileSync(process.execPath, ['--import', tsx, cli, '--help'], { encoding: 'utf8' });
    for (const c of ['serve', 'learn', 'replay', 'simulate', 'eval', 'demo', 'baseline']) expect(out).toContain(c);
  });
});
