/**
 * YAML files checked against a JSON Schema, with every problem located for the person who will
 * fix it: file:line:column, the path of the field, and what to do. Shared by policy and config
 * files. YAML syntax errors come first; schema errors are reported all at once.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { nearest } from './nearest.js';
import type { PolicyIssue as Issue } from './errors.js';

export type { Issue };

export interface LocatedDoc<T> {
  file: string;
  doc: Document;
  lines: LineCounter;
  data: T;
}

/** Whether a parsed value is a mapping (for checks run on documents the schema may have rejected). */
export function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parse only: the document, valid or not (for checks the schema cannot make, run beside its
 * errors), or undefined with the YAML syntax errors appended.
 */
export function parseLocated<T>(file: string, text: string, issues: Issue[]): LocatedDoc<T> | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  for (const e of doc.errors) {
    const pos = lines.linePos(e.pos[0]);
    issues.push({ file, line: pos.line, column: pos.col, path: '', message: `YAML: ${e.message.split('\n')[0]}` });
  }
  if (doc.errors.length) return undefined;
  return { file, doc, lines, data: (doc.toJS() ?? {}) as T };
}

/** Whether the document is valid; its schema errors are appended when it is not. */
export function validateLocated(located: LocatedDoc<unknown>, validate: ValidateFunction, issues: Issue[]): boolean {
  if (validate(located.data)) return true;
  for (const e of dedupe(validate.errors ?? [])) issues.push(schemaIssue(located, e, validate.schema));
  return false;
}

/** Keep the most specific error per location: `if/allOf` wrappers repeat their children's. */
function dedupe(errors: ErrorObject[]): ErrorObject[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    if (e.keyword === 'allOf' || e.keyword === 'if') return false;
    const key = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function schemaIssue(l: LocatedDoc<unknown>, e: ErrorObject, root: unknown): Issue {
  const segments = e.instancePath.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
  let message: string;
  let at = segments;
  switch (e.keyword) {
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const p = e.params as { additionalProperty?: string; unevaluatedProperty?: string };
      const key = p.additionalProperty ?? p.unevaluatedProperty ?? '?';
      const known = [...knownKeys(e.parentSchema, root)];
      const near = nearest(key, known);
      message = near === undefined
        ? `unknown key "${key}": remove it or check its spelling${known.length && known.length <= 12 ? ` (known here: ${known.join(', ')})` : ''}`
        : `unknown key "${key}": did you mean "${near}"?`;
      at = [...segments, key];
      break;
    }
    case 'required':
      message = `missing "${(e.params as { missingProperty: string }).missingProperty}": add it`;
      break;
    case 'enum':
      message = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
      break;
    case 'const':
      message = `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
      break;
    case 'type':
      message = `must be ${(e.params as { type: string }).type}, not ${describe(l.doc.getIn(segments, true))}`;
      break;
    case 'pattern': {
      // With a verbose validator the field's own description says what is expected: the fix.
      const hint = (e.parentSchema as { description?: string } | undefined)?.description;
      message = `${describe(l.doc.getIn(segments, true))} is not valid here: ${hint ?? `must match ${(e.params as { pattern: string }).pattern}`}`;
      break;
    }
    case 'minLength':
    case 'minItems': {
      const limit = (e.params as { limit: number }).limit;
      const unit = e.keyword === 'minLength' ? 'character' : 'item';
      message = limit === 1 ? 'must not be empty' : `must have at least ${limit} ${unit}s`;
      break;
    }
    case 'discriminator': {
      // A oneOf told apart by one property (a sink's `type`): name the kinds there are, not each
      // kind's every complaint about a mapping that was never meant to be it.
      const { tag, tagValue } = e.params as { tag: string; tagValue: unknown };
      const kinds = ((e.parentSchema as { oneOf?: { properties?: Record<string, { const?: unknown }> }[] } | undefined)?.oneOf ?? [])
        .map((branch) => branch.properties?.[tag]?.const).filter((k): k is string => typeof k === 'string');
      const listed = kinds.map((k) => JSON.stringify(k)).join(', ');
      if (tagValue === undefined) message = `missing "${tag}": add one of ${listed}`;
      else {
        const near = typeof tagValue === 'string' ? nearest(tagValue, kinds) : undefined;
        message = `${describe(l.doc.getIn([...segments, tag], true))} is not a known ${tag}: ${near === undefined ? '' : `did you mean "${near}"? `}use one of ${listed}`;
        at = [...segments, tag];
      }
      break;
    }
    default:
      message = e.message ?? 'is invalid';
  }
  return locate(l, at, message, 0, at !== segments);
}

interface SchemaNode {
  properties?: Record<string, unknown>;
  allOf?: SchemaNode[];
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  then?: SchemaNode;
  else?: SchemaNode;
  $ref?: string;
}

/**
 * The keys a mapping may have where this schema applies: its own properties and those of the
 * schemas it is composed of (a policy's are its scope's too, through allOf and a local $ref:
 * unevaluatedProperties reports the policy's schema alone).
 */
function knownKeys(schema: unknown, root: unknown, into = new Set<string>(), depth = 0): Set<string> {
  if (typeof schema !== 'object' || schema === null || depth > 8) return into;
  const s = schema as SchemaNode;
  for (const k of Object.keys(s.properties ?? {})) into.add(k);
  for (const sub of [...(s.allOf ?? []), ...(s.anyOf ?? []), ...(s.oneOf ?? []), s.then, s.else]) knownKeys(sub, root, into, depth + 1);
  if (typeof s.$ref === 'string' && s.$ref.startsWith('#/')) {
    let target: unknown = root;
    for (const part of s.$ref.slice(2).split('/')) target = (target as Record<string, unknown> | undefined)?.[part];
    knownKeys(target, root, into, depth + 1);
  }
  return into;
}

function describe(v: unknown): string {
  if (isScalar(v)) return JSON.stringify(v.value);
  if (isSeq(v)) return 'a list';
  if (isMap(v)) return 'a mapping';
  return 'empty';
}

export function pathText(segments: (string | number)[]): string {
  return segments.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/**
 * An issue at the node at `segments` (the key itself when `atKey`; for a missing key: its
 * parent); `offset` moves into a scalar.
 */
export function locate(l: LocatedDoc<unknown>, segments: (string | number)[], message: string, offset = 0, atKey = false): Issue {
  let node: Node | undefined;
  const keyOf = (n: number): Node | undefined => {
    const parent = l.doc.getIn(segments.slice(0, n - 1), true);
    if (!isMap(parent)) return undefined;
    const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === segments[n - 1]);
    return pair && isScalar(pair.key) ? pair.key : undefined;
  };
  if (atKey && segments.length) node = keyOf(segments.length);
  for (let n = segments.length; n >= 0 && node === undefined; n--) {
    const target = l.doc.getIn(segments.slice(0, n), true) as Node | undefined;
    if (target && (target as { range?: unknown }).range) node = target;
    else if (n === segments.length && n > 0) node = keyOf(n);
  }
  const start = ((node as { range?: [number, number, number] } | undefined)?.range?.[0] ?? 0) + offset;
  const pos = l.lines.linePos(start);
  return { file: l.file, line: pos.line, column: pos.col, path: pathText(segments), message };
}
