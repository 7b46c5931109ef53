/** The chainwatch command line, run as a child process the way users run it. */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

import type { Alert } from '../src/alerts.js';
import { KillSwitch } from '../src/kill-switch.js';
import { StateStore } from '../src/state-store.js';
import { type AddressInfo, createServer } from 'node:net';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
// The TypeScript loader by absolute URL: the commands run in temporary directories.
const tsx = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
/** `input`: piped to the command's standard input. */
const run = (args: string[], cwd: string, input?: Buffer) => spawnSync(process.execPath, ['--import', tsx, cli, ...args], { cwd, encoding: 'utf8', timeout: 60_000, input });

describe('chainwatch CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chainwatch-cli-'));

  it('simulates, learns, replays deterministically, evaluates and shows a baseline', () => {
    const sim = run(['simulate', '--out', 'sim', '--agents-per-role', '2', '--history-days', '8', '--live-days', '2', '--attacks', '2'], dir);
    expect(sim.status, sim.stderr).toBe(0);
    expect(sim.stdout).toMatch(/labels\.jsonl \(\d+ chains, 16 attacks\)/);
    // A lighter fleet: 10 agents, one live Monday, 3 chains each.
    const light = run(['simulate', '--out', 'light', '--agents-per-role', '2', '--history-days', '0', '--live-days', '1', '--attacks', '0', '--chains-per-day', '3'], dir);
    expect(light.stdout, light.stderr).toMatch(/labels\.jsonl \(30 chains, 0 attacks\)/);

    const learn = run(['learn', 'sim/history.jsonl', '--state', 'st'], dir);
    expect(learn.status, learn.stderr).toBe(0);
    expect(learn.stdout).toMatch(/agents by phase: enforcing 10/);
    cpSync(join(dir, 'st'), join(dir, 'st2'), { recursive: true });

    // A replay file with damage: the bad lines are reported with file:line and skipped.
    cpSync(join(dir, 'sim/live.jsonl'), join(dir, 'live.jsonl'));
    // AgentCall lines that lack what the detectors read: bad lines too, naming the field, not a crash.
    const call = { time: 1, endTime: 2, traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), agent: { id: 'x', source: 'span' }, action: { kind: 'http', signature: 'GET x', write: false }, external: false, destinations: [], resource: 'r', outcome: { ok: true }, retries: 0, sensitive: false };
    const damaged = [{ ...call, agent: { source: 'span' } }, { ...call, destinations: 'paste.io' }];
    appendFileSync(join(dir, 'live.jsonl'), `not json\n{"hello": 1}\n{"resourceSpans": 7}\n${damaged.map((c) => JSON.stringify(c)).join('\n')}\n`);
    const replay = run(['replay', 'live.jsonl', '--state', 'st', '--alerts', 'a1.jsonl'], dir);
    expect(replay.status, replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(/alerts: info 0, low \d+, medium \d+, high \d+, critical [1-9]/);
    expect(replay.stdout).toMatch(/5 bad lines/);
    expect(replay.stdout).toMatch(/AgentCall line: field agent must have required property 'id'/);
    expect(replay.stdout).toMatch(/AgentCall line: field destinations must be array/);
    expect(replay.stdout).toMatch(/live\.jsonl:\d+: not JSON/);
    expect(replay.stdout).toMatch(/neither an OTLP\/JSON request/);

    const again = run(['replay', 'live.jsonl', '--state', 'st2', '--alerts', 'a2.jsonl'], dir);
    expect(again.status).toBe(0);
    expect(readFileSync(join(dir, 'a2.jsonl'), 'utf8')).toBe(readFileSync(join(dir, 'a1.jsonl'), 'utf8'));

    const ev = run(['eval', '--labels', 'sim/labels.jsonl', '--alerts', 'a1.jsonl'], dir);
    expect(ev.status).toBe(0);
    expect(ev.stdout).toMatch(/\| exfiltration \| 2 \| 2 \|/);
    expect(ev.stdout).toMatch(/False positives: \d+ of \d+ benign chains/);
    // The two files the other way round, or a file that is not alerts: the line, and what it should be.
    const swapped = run(['eval', '--labels', 'a1.jsonl', '--alerts', 'sim/labels.jsonl'], dir);
    expect(swapped.status).toBe(1);
    expect(swapped.stderr).toMatch(/^chainwatch: a1\.jsonl:1: not a label \(traceId and label, as chainwatch simulate writes labels\.jsonl\) — it is an alert: are --labels and --alerts the other way round\? \[CW_ERR_INPUT_FORMAT\]\n$/);
    expect(run(['pretty', 'sim/labels.jsonl'], dir).stderr).toMatch(/^chainwatch: sim\/labels\.jsonl:1: not a chainwatch alert \(schema chainwatch\.alert\/v1, as serve and replay write them\) — it is a simulation label: give pretty an alerts file \[CW_ERR_INPUT_FORMAT\]\n$/);
    expect(run(['pretty', 'live.jsonl'], dir).stderr).toMatch(/^chainwatch: live\.jsonl:1: not a chainwatch alert/);

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

  it('replays frozen: the same alerts however often, nothing learned and nothing saved', () => {
    expect(run(['simulate', '--out', 'fz-sim', '--agents-per-role', '2', '--history-days', '8', '--live-days', '1', '--attacks', '1'], dir).status).toBe(0);
    expect(run(['learn', 'fz-sim/history.jsonl', '--state', 'fz'], dir).status).toBe(0);
    const saved = (): string => createHash('sha256').update(readFileSync(join(dir, 'fz', 'state.db'))).digest('hex');
    const before = saved();
    const baseline = run(['baseline', 'show', 'support-agent-01', '--state', 'fz'], dir).stdout;
    const first = run(['replay', 'fz-sim/live.jsonl', '--state', 'fz', '--alerts', 'f1.jsonl', '--frozen'], dir);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/alerts: info 0, low \d+, medium \d+, high \d+, critical [1-9]\d*; frozen: nothing learned, nothing saved to fz/);
    expect(run(['replay', 'fz-sim/live.jsonl', '--state', 'fz', '--alerts', 'f2.jsonl', '--frozen'], dir).status).toBe(0);
    expect(readFileSync(join(dir, 'f2.jsonl'), 'utf8')).toBe(readFileSync(join(dir, 'f1.jsonl'), 'utf8'));
    // Piped in compressed (zcat-less: `cat live.jsonl.gz | chainwatch replay - …`): the same alerts as from the file.
    const piped = run(['replay', '-', '--state', 'fz', '--alerts', 'f7.jsonl', '--frozen'], dir, gzipSync(readFileSync(join(dir, 'fz-sim/live.jsonl'))));
    expect(piped.status, piped.stderr).toBe(0);
    expect(readFileSync(join(dir, 'f7.jsonl'), 'utf8')).toBe(readFileSync(join(dir, 'f1.jsonl'), 'utf8'));
    expect(saved()).toBe(before);
    expect(run(['baseline', 'show', 'support-agent-01', '--state', 'fz'], dir).stdout).toBe(baseline);
    // A state from before the SQLite store (a state.json alone) is a learned state too.
    const store = new StateStore(join(dir, 'fz'));
    const learned = store.latest()!.snapshot;
    store.close();
    mkdirSync(join(dir, 'fz-legacy'));
    writeFileSync(join(dir, 'fz-legacy', 'state.json'), JSON.stringify(learned));
    const legacy = run(['replay', 'fz-sim/live.jsonl', '--state', 'fz-legacy', '--alerts', 'f6.jsonl', '--frozen'], dir);
    expect(legacy.status, legacy.stderr).toBe(0);
    expect(readFileSync(join(dir, 'f6.jsonl'), 'utf8')).toBe(readFileSync(join(dir, 'f1.jsonl'), 'utf8'));
    // A replay that learns changes the state: the check above can fail.
    expect(run(['replay', 'fz-sim/live.jsonl', '--state', 'fz', '--alerts', 'f3.jsonl'], dir).status).toBe(0);
    expect(saved()).not.toBe(before);
    const none = run(['replay', 'fz-sim/live.jsonl', '--state', 'nothing-here', '--alerts', 'f4.jsonl', '--frozen'], dir);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/--frozen judges against a learned state, and nothing-here has none: run chainwatch learn first/);
    expect(existsSync(join(dir, 'nothing-here'))).toBe(false);
    // A directory with no saved state in it is refused too.
    mkdirSync(join(dir, 'empty-state'));
    expect(run(['replay', 'fz-sim/live.jsonl', '--state', 'empty-state', '--alerts', 'f5.jsonl', '--frozen'], dir).stderr).toMatch(/and empty-state has none/);
  });

  it('fails with a clear message and exit code 1 for an unknown agent or missing state', () => {
    const none = run(['baseline', 'show', 'nobody', '--state', join(dir, 'empty')], dir);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/no state in .*empty: give --state the directory chainwatch serve or learn uses, or run chainwatch learn first \[CW_ERR\]/);
    // Reading commands leave no empty state directory behind.
    expect(existsSync(join(dir, 'empty'))).toBe(false);
    expect(run(['revocations', 'list', '--state', join(dir, 'empty')], dir).stderr).toMatch(/no state in .*empty/);
    expect(existsSync(join(dir, 'empty'))).toBe(false);
    const unknown = run(['baseline', 'show', 'nobody', '--state', 'st'], dir);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/no baseline for agent "nobody"; known agents: /);
    // A near miss: the agent meant, and the known ones most like it first.
    expect(run(['baseline', 'show', 'devops-agent-1', '--state', 'st'], dir).stderr).toMatch(/no baseline for agent "devops-agent-1"; did you mean "devops-agent-01"\? known agents: devops-agent-01, devops-agent-02, /);
    expect(run(['alerts', 'confirm', 'xyz', '--state', 'st'], dir).stderr).toMatch(/"xyz" is not a trace id: give the 32 hex digits of the chain's trace/);
  }, 60_000);

  it('refuses a bad option value or a missing file before doing anything: the option, what it takes, no stack trace', () => {
    const cases: [string[], RegExp][] = [
      [['simulate', '--out', 'bad-sim', '--agents-per-role', 'abc'], /option '--agents-per-role <n>' argument 'abc' is invalid\. Give a whole number, 1 or more\./],
      [['simulate', '--out', 'bad-sim', '--attacks', '2.5'], /option '--attacks <n>' argument '2\.5' is invalid\. Give a whole number, 0 or more\./],
      [['serve', '--port', '99999', '--state', 'bad-state'], /option '--port <port>' argument '99999' is invalid\. Give a whole number from 0 to 65535\./],
      [['replay', 'sim/live.jsonl', '--alerts', 'bad.jsonl', '--min-severity', 'loud'], /option '--min-severity <level>' argument 'loud' is invalid\. Give one of info, low, medium, high, critical\./],
      [['serve', '--kafka', '127.0.0.1:9092', '--kafka-stage', 'all', '--state', 'bad-state'], /option '--kafka-stage <stage>' argument 'all' is invalid\. Give one of ingest, detect, both\./],
      [['status', '--interval', 'soon'], /option '--interval <seconds>' argument 'soon' is invalid\. Give a number of seconds, 0 or more/],
      [['pretty', 'no-such-alerts.jsonl'], /^chainwatch: ENOENT: no such file or directory, open 'no-such-alerts\.jsonl'\n$/],
      // Inputs are checked before the state or the alerts file is touched.
      [['learn', 'sim/history.jsonl', 'no-such.jsonl', '--state', 'bad-state'], /^chainwatch: no-such\.jsonl: no such file \[CW_ERR_INPUT_FORMAT\]\n$/],
      [['replay', 'sim', '--state', 'bad-state', '--alerts', 'bad.jsonl'], /^chainwatch: sim: is a directory: give the files in it, e\.g\. sim\/\*\.jsonl \[CW_ERR_INPUT_FORMAT\]\n$/],
      [['policy', 'test', 'no-policy.yaml', 'sim/live.jsonl', '--state', 'bad-state'], /^chainwatch: no state directory bad-state: give --state a state directory/],
      // An alerts file given as history: nothing to learn, said as such, and a failing exit code.
      [['learn', 'a1.jsonl', '--state', 'alerts-as-history'], /^chainwatch: no telemetry in a1\.jsonl: all \d+ lines were refused, the first: a1\.jsonl:1: line is neither an OTLP\/JSON request .* — it is a chainwatch alert \(an alerts file, not telemetry\); nothing was saved \[CW_ERR_INPUT_FORMAT\]\n$/],
    ];
    for (const [args, message] of cases) {
      const out = run(args, dir);
      expect(out.status, args.join(' ')).toBe(1);
      expect(out.stderr, args.join(' ')).toMatch(message);
      expect(out.stderr).not.toMatch(/\n\s+at /);
    }
    for (const made of ['bad-sim', 'bad-state', 'bad.jsonl']) expect(existsSync(join(dir, made)), made).toBe(false);
  });

  it('says what to do when the port it should listen on is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const out = run(['serve', '--port', String(port), '--state', 'taken-state'], dir);
      expect(out.status).toBe(1);
      expect(out.stderr).toMatch(new RegExp(`listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port} \\(another process listens there .*choose another port with --port`));
      expect(out.stderr).not.toMatch(/\n\s+at /);
    } finally {
      taken.close();
    }
  }, 60_000);

  it('says which Kafka brokers it could not use, and why, when they are not there', () => {
    // Port 1 on loopback: nothing listens; kafkajs retries for ~10 s, then gives up.
    const out = run(['serve', '--kafka', '127.0.0.1:1', '--port', '0', '--state', 'kafka-state'], dir);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(/^chainwatch: cannot use the Kafka brokers 127\.0\.0\.1:1: Connection error: connect ECONNREFUSED 127\.0\.0\.1:1; is Kafka running there\? \(--kafka or kafka\.brokers; brokers that require TLS or SASL need kafka\.tls, kafka\.sasl\) \[CW_ERR_KAFKA\]$/m);
    expect(out.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('ends quietly when its reader closes stdout early (chainwatch pretty alerts.jsonl | head)', async () => {
    const line = readFileSync(join(dir, 'a1.jsonl'), 'utf8').split('\n')[0];
    expect(line).toMatch(/^\{"/);
    writeFileSync(join(dir, 'many.jsonl'), `${line}\n`.repeat(5000));
    const child = spawn(process.execPath, ['--import', tsx, cli, 'pretty', 'many.jsonl'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  }, 60_000);

  it('prints help listing every command', () => {
    const out = execFileSync(process.execPath, ['--import', tsx, cli, '--help'], { encoding: 'utf8' });
    for (const c of ['serve', 'learn', 'replay', 'simulate', 'eval', 'demo', 'baseline']) expect(out).toContain(c);
  });

  it('lists, approves and undoes revocations, with an audit trail', async () => {
    const state = join(dir, 'revocations');
    const store = new StateStore(state);
    const ks = new KillSwitch(store.db, {
      policy: { rules: [{ name: 'review', mode: 'approve' }], blastRadius: { max: 5, windowMs: 60_000 }, cooldownMs: 0 },
      webhook: { url: 'http://127.0.0.1:9/never', key: Buffer.alloc(32), timeoutMs: 1000 }, retry: { maxAttempts: 1, baseMs: 1, maxMs: 1 },
    }, { revoked: () => {}, restored: () => {}, alert: () => {} });
    await ks.onAlert({ id: 'c'.repeat(32), severity: 'critical', title: 'Denied destination', detectors: ['policy'], credential: 'key_cli', agent: { id: 'support-agent-01', group: 'support-agent', phase: 'enforcing' }, traceId: 'ab'.repeat(16), spanIds: [], time: '2026-06-01T10:00:00.000Z' } as unknown as Alert);
    store.close();
    const listed = JSON.parse(run(['revocations', 'list', '--json', '--state', state], dir).stdout);
    expect(listed).toMatchObject([{ credential: 'key_cli', status: 'awaiting-approval', mode: 'approve', deliveries: [{ channel: 'webhook', status: 'held' }] }]);
    const id = listed[0].id as string;
    expect(run(['revocations', 'approve', id, '--state', state], dir).stderr).toMatch(/required option '--by <name>'/);
    const approve = run(['revocations', 'approve', id, '--by', 'ana', '--note', 'confirmed', '--state', state], dir);
    expect(approve.stdout).toMatch(new RegExp(`approved ${id}`));
    expect(run(['revocations', 'approve', id, '--by', 'ana', '--state', state], dir).stderr).toMatch(/is pending, not awaiting approval/);
    expect(run(['revocations', 'undo', id, '--by', 'bo', '--note', 'false positive', '--state', state], dir).stdout).toMatch(/cancelled .* before it was sent/);
    // Colours are on where the terminal or CI asks for them: read the text without them.
    expect(run(['revocations', 'list', '--state', state], dir).stdout.replace(/\x1b\[[0-9;]*m/g, '')).toMatch(/key_cli of support-agent-01 {2}CANCELLED \[approve\]/);
    const db = new StateStore(state);
    expect(db.db.prepare('SELECT actor, action FROM audit ORDER BY id').all()).toEqual([
      { actor: 'chainwatch', action: 'revocation.recorded' }, { actor: 'ana', action: 'revocation.approve' }, { actor: 'bo', action: 'revocation.cancel' },
    ]);
    db.close();
  }, 60_000);
});
