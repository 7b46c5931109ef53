/** Broken policy files: each is rejected whole, with file:line:column, the field and the fix. */
import { describe, expect, it } from 'vitest';
import { PolicyError } from '../src/errors.js';
import { loadPolicies, loadPolicyText } from '../src/policy-load.js';
import { parseCondition } from '../src/policy-condition.js';

const head = 'version: 1\npolicies:\n  - name: p\n    match: { name: [a] }\n';

function issues(text: string): string[] {
  try {
    loadPolicyText('fleet.yaml', text);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return (err as PolicyError).issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.path}: ${i.message}`);
  }
  return [];
}

describe('policy validation', () => {
  it.each([
    ['a YAML syntax error', 'version: 1\npolicies:\n  - name: p\n    match: { name: [a\n', /^fleet\.yaml:\d+:\d+: : YAML: /],
    ['a wrong type, with the value found', `${head}    limits: { chain_calls: "many" }\n`, /^fleet\.yaml:5:28: policies\[0\]\.limits\.chain_calls: must be integer, not "many"$/],
    ['an unknown key', `${head}    destinatons: { allow: [x] }\n`, /^fleet\.yaml:5:5: policies\[0\]\.destinatons: unknown key "destinatons": did you mean "destinations"\?$/],
    ['a key of the scope a policy is built on, misspelt', `${head}    limits: { chain_call: 5 }\n`, /^fleet\.yaml:5:15: policies\[0\]\.limits\.chain_call: unknown key "chain_call": did you mean "chain_calls"\?$/],
    ['a key like none a policy has', `${head}    owner: sec-team\n`, /^fleet\.yaml:5:5: policies\[0\]\.owner: unknown key "owner": remove it or check its spelling$/],
    ['a bad enum, listing the choices', `${head}    destinations: { external: maybe }\n`, /^fleet\.yaml:5:31: policies\[0\]\.destinations\.external: must be one of "allow", "listed", "deny"$/],
    ['a missing required field', 'version: 1\npolicies:\n  - name: p\n', /^fleet\.yaml:3:5: policies\[0\]: missing "match": add it$/],
    ['a bad duration', `${head}    delegation: { max_age: 30 minutes }\n`, /^fleet\.yaml:5:28: policies\[0\]\.delegation\.max_age: "30 minutes" is not valid here: write a duration, e\.g\. 90s, 10m, 1h30m or 2d \(a number is seconds\)$/],
    ['a bad size', `${head}    limits: { external_bytes: lots }\n`, /policies\[0\]\.limits\.external_bytes: "lots" is not valid here: write a size, e\.g\. 512KB or 1MB/],
    ['a rule condition syntax error, pointing into the condition', `${head}    rules:\n      - { rule: R, desc: d, output: o, priority: ERROR, condition: "tool x then frobnicate y" }\n`,
      /^fleet\.yaml:6:\d+: policies\[0\]\.rules\[0\]\.condition: rule "R": unknown field "frobnicate": use one of .* \(at column 13\)$/],
    ['a bad priority', `${head}    rules:\n      - { rule: R, desc: d, output: o, priority: LOUD, condition: "tool x" }\n`, /policies\[0\]\.rules\[0\]\.priority: must be one of "EMERGENCY"/],
    ['extends of an unknown policy', `${head}    extends: nothere\n`, /^fleet\.yaml:5:14: policies\[0\]\.extends: extends unknown policy "nothere": use one of p$/],
    ['a duplicate policy name', `${head}  - name: p\n    match: { name: [b] }\n`, /policies\[1\]\.name: duplicate policy name "p"/],
    ['the wrong version', 'version: 2\npolicies: []\n', /^fleet\.yaml:1:10: version: must be 1$/],
    ['a configuration file given as a policy file, in one line', 'state_dir: /var/lib/chainwatch\nreceiver: { port: 4318 }\n', /^fleet\.yaml:1:1: : this is a chainwatch configuration file, not a policy file: check it with chainwatch config check/],
  ])('reports %s', (_name, text, expected) => {
    const found = issues(text);
    expect(found.length, 'the file must be rejected').toBeGreaterThan(0);
    expect(found.some((i) => expected.test(i)), found.join('\n')).toBe(true);
  });

  it('reports every problem at once', () => {
    const found = issues(`${head}    limits: { chain_calls: -1 }\n    destinatons: {}\n    delegation: { max_age: forever }\n`);
    expect(found, found.join('\n')).toHaveLength(3);
    for (const problem of [/5:28: .*chain_calls: must be >= 1/, /6:5: .*destinatons: unknown key/, /7:28: .*delegation\.max_age: "forever" is not valid here/]) {
      expect(found.some((i) => problem.test(i)), `${problem}`).toBe(true);
    }
  });

  it('reports a broken condition and a duplicate name beside the schema\'s errors', () => {
    const found = issues(`${head}    destinatons: {}\n    rules:\n      - { rule: R, desc: d, output: o, priority: ERROR, condition: "tool x then frobnicate y" }\n  - name: p\n    match: { name: [b] }\n`);
    for (const problem of [/5:5: .*destinatons: unknown key/, /7:\d+: .*rules\[0\]\.condition: rule "R": unknown field "frobnicate"/, /8:\d+: policies\[1\]\.name: duplicate policy name "p"/]) {
      expect(found.some((i) => problem.test(i)), `${problem}\n${found.join('\n')}`).toBe(true);
    }
    // Whatever shape a rejected file has, the checks beside the schema read it without failing.
    for (const text of ['version: 1\npolicies: 5\n', 'version: 1\npolicies: [3, null, { rules: 7 }, { rules: [5, { condition: 4 }] }]\n', '7\n', 'version: 1\ndefaults: [1]\npolicies: []\n']) {
      expect(issues(text).length, text).toBeGreaterThan(0);
    }
  });

  it('takes every duration and size the engine reads, and only those', async () => {
    const { parseDuration, parseSize } = await import('../src/duration.js');
    for (const v of ['90s', '1h30m', '2D', ' 5m ', '250ms', '5', '5 m', 'forever', '1w', '-5m']) {
      expect(issues(`${head}    delegation: { max_age: "${v}" }\n`).length === 0, v).toBe(parseDuration(v) !== undefined);
    }
    for (const v of ['512KB', '1mb', '1.5 MB', '100', '100b', ' 2GB ', 'lots', '1TB', '-1KB', 'KB']) {
      expect(issues(`${head}    limits: { external_bytes: "${v}" }\n`).length === 0, v).toBe(parseSize(v) !== undefined);
    }
  });

  it('detects inheritance cycles', () => {
    const found = issues('version: 1\npolicies:\n  - { name: a, extends: b, match: { name: [x] } }\n  - { name: b, extends: a, match: { name: [y] } }\n');
    expect(found.join('\n')).toMatch(/makes a cycle/);
  });

  it('loads the shipped example policy set cleanly', () => {
    const specs = loadPolicies([new URL('../deploy/policies/fleet.yaml', import.meta.url).pathname]);
    expect(specs.map((s) => s.name)).toEqual(['support', 'billing', 'research', 'devops', 'sales']);
    expect(specs[0].delegation?.max_age).toBe('30m');
    expect(specs[3].limits?.chain_calls).toBe(20);
  });

  it('rejects a file it cannot read, naming it', () => {
    expect(() => loadPolicies(['/nonexistent/policy.yaml'])).toThrow(/\/nonexistent\/policy\.yaml:1:1: cannot read/);
  });

  it('gives condition errors with a column', () => {
    expect(() => parseCondition('tool x and')).toThrow(/expected a condition, found the end \(at column 11\)/);
    expect(() => parseCondition('tool "a b')).toThrow(/unterminated quote \(at column 6\)/);
    expect(() => parseCondition('write without tool x')).toThrow(/expected "preceding" after "without"/);
    expect(() => parseCondition('tool x then write within soon')).toThrow(/"within" needs a duration/);
    expect(parseCondition('action "POST */refunds" without preceding tool get_invoice within 30m')).toMatchObject({ kind: 'without', withinMs: 1_800_000 });
  });
});
