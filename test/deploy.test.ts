/**
 * deploy/: the Kubernetes manifests pass a schema-aware linter (kubernetes-validate, from PyPI,
 * installed by .ci/run), a broken one fails it, and the chainwatch configuration shipped in the
 * manifests and in deploy/config validates against our own schema.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../src/config.js';
import { loadPolicies } from '../src/policy-load.js';
import { serviceNodeFlags } from './helpers/bench.js';

const deploy = fileURLToPath(new URL('../deploy/', import.meta.url));
const manifests = readdirSync(join(deploy, 'k8s')).filter((f) => f.endsWith('.yaml')).map((f) => join(deploy, 'k8s', f));

function validate(files: string[]) {
  // As a module: no dependence on a console-script shim being on PATH.
  const r = spawnSync('python3', ['-m', 'kubernetes_validate', '--strict', ...files], { encoding: 'utf8', timeout: 60_000 });
  if (r.error || /No module named kubernetes_validate/.test(r.stderr)) {
    throw new Error(`kubernetes-validate is not installed (python3 -m pip install kubernetes-validate; .ci/run does): ${r.error?.message ?? r.stderr}`);
  }
  return r;
}

describe('deploy/', () => {
  it('has Kubernetes manifests that pass strict schema validation', () => {
    expect(manifests.length).toBeGreaterThan(0);
    const r = validate(manifests);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/passed for resource deployment\/chainwatch /);
    // The Kafka stages, each with an autoscaler on consumer lag.
    for (const res of ['deployment/chainwatch-ingest', 'statefulset/chainwatch-detect', 'horizontalpodautoscaler/chainwatch-detect', 'horizontalpodautoscaler/chainwatch-ingest']) {
      expect(r.stdout).toContain(`passed for resource ${res} `);
    }
  });

  it('scales the Kafka stages on a metric chainwatch exports, with the labels it sets', () => {
    const telemetry = readFileSync(fileURLToPath(new URL('../src/telemetry.ts', import.meta.url)), 'utf8');
    const hpas = manifests.flatMap((f) => parseAllDocuments(readFileSync(f, 'utf8')).map((d) => d.toJS() as any)).filter((o) => o?.kind === 'HorizontalPodAutoscaler');
    expect(hpas.map((h) => h.spec.scaleTargetRef.name).sort()).toEqual(['chainwatch-detect', 'chainwatch-ingest']);
    for (const h of hpas) {
      const m = h.spec.metrics[0].external.metric;
      expect(telemetry).toContain(`'${m.name}'`);
      expect(['ingest', 'detect']).toContain(m.selector.matchLabels.stage);
    }
  });

  it('fails a broken manifest (the linter really checks)', () => {
    const broken = join(mkdtempSync(join(tmpdir(), 'cw-k8s-')), 'broken.yaml');
    writeFileSync(broken, readFileSync(manifests[0], 'utf8').replace('containerPort: 4318', 'containerPort: "four"').replace('replicas: 1', 'replicaz: 1'));
    const r = validate([broken]);
    expect(r.status).not.toBe(0);
  });

  it('ships configuration and policies that chainwatch accepts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-cfg-'));
    for (const file of manifests) {
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
        const obj = doc.toJS() as { kind?: string; data?: Record<string, string> };
        if (obj?.kind !== 'ConfigMap' || !obj.data?.['chainwatch.yaml']) continue;
        const f = join(dir, 'from-configmap.yaml');
        writeFileSync(f, obj.data['chainwatch.yaml']);
        expect(() => loadConfig(f, {})).not.toThrow();
      }
    }
    // The single process listens on the pod network: its receiver requires a token, from a Secret.
    const single = parseAllDocuments(readFileSync(join(deploy, 'k8s', 'single-process.yaml'), 'utf8')).map((d) => d.toJS() as any);
    const configFile = join(dir, 'single.yaml');
    writeFileSync(configFile, single.find((o) => o?.kind === 'ConfigMap').data['chainwatch.yaml']);
    const tokenEnv = loadConfig(configFile, {}).receiver.tokenEnv;
    expect(tokenEnv).toBeDefined();
    const env = single.find((o) => o?.kind === 'Deployment').spec.template.spec.containers[0].env;
    expect(env.find((e: any) => e.name === tokenEnv)?.valueFrom?.secretKeyRef).toMatchObject({ key: 'token' });
    expect(readFileSync(join(deploy, 'collector', 'agents-to-chainwatch.yaml'), 'utf8')).toContain(`authorization: "Bearer \${env:${tokenEnv}}"`);
    const example = loadConfig(join(deploy, 'config', 'chainwatch.yaml'), {});
    expect(example.policies).toEqual(['/etc/chainwatch/policies/fleet.yaml']);
    expect(loadPolicies([join(deploy, 'policies', 'fleet.yaml')])).toHaveLength(5);
  });

  it('runs chainwatch with the V8 flags the benches measured it with, wherever it is started', () => {
    // The hot path's speed depends on them (docs/benchmarks.md, "V8 flags"): a start that left
    // them out would run slower than every figure published for it.
    const flags = serviceNodeFlags();
    expect(flags).toEqual(expect.arrayContaining(['--max-semi-space-size=32', '--max-inlined-bytecode-size=920']));
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
    const nodeScripts = Object.entries(pkg.scripts).filter(([, cmd]) => / node /.test(` ${cmd}`));
    expect(nodeScripts.map(([name]) => name)).toEqual(expect.arrayContaining(['start', 'demo', 'cli', 'bench', 'bench:ab']));
    for (const [name, cmd] of nodeScripts) expect(`${name}: ${cmd}`).toContain(` node ${cmd.includes('--expose-gc') ? '--expose-gc ' : ''}${flags.join(' ')} `);
    const entrypoint = /^ENTRYPOINT (.*)$/m.exec(readFileSync(join(deploy, 'Dockerfile'), 'utf8'))?.[1];
    expect(JSON.parse(entrypoint ?? '[]')).toEqual(['node', ...flags, 'dist/src/cli.js']);
  });
});
