/**
 * The query API for the SOC (HTTP JSON under /api/v1, bearer-token protected, loopback by
 * default): alerts with filters and keyset pagination, one alert with its chain's calls and
 * evidence, an agent's baseline summary and recent chains, the most anomalous agents over a
 * window, and ack/resolve with an audit trail. Every parameter is validated by a JSON Schema
 * (unknown ones rejected); a bad one gets 400 naming the field and what to send instead. Values
 * reach the store only as bound parameters (src/sqlite-store.ts, src/clickhouse-sql.ts).
 */
import { timingSafeEqual } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import type { TlsFiles } from './tls-files.js';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { agentSummary } from './baseline-view.js';
import { parseDuration } from './duration.js';
import type { Engine } from './engine.js';
import { ChainwatchError, QueryError, StateError } from './errors.js';
import { ALERT_STATUSES, type AlertFilter, type AlertStatus, type EventStore, decodeCursor } from './event-store.js';
import { SEVERITIES, type Severity } from './severity.js';

export interface QueryApiConfig {
  enabled: boolean;
  host: string;
  port: number;
  /** HTTPS from these files, read again when they change (`api.tls`). */
  tls?: TlsFiles;
}

export const defaultQueryApiConfig: QueryApiConfig = { enabled: true, host: '127.0.0.1', port: 4320 };

export interface QueryApiDeps {
  store: EventStore;
  engine: Engine;
  token: string;
  /** Records analyst actions (who, when, what, why). */
  audit(actor: string, action: string, target: string, detail: string): void;
  /** The kill-switch's public signing keys (SSF receivers verify our SETs with them); none: 404. */
  jwks?: () => object | undefined;
  /** Serve HTTPS with this certificate and key. */
  https?: SecureContextOptions;
}

const MAX_LIMIT = 1000;
const ALERT_ID = '^[0-9a-f]{32}$';
const TEXT = { type: 'string', minLength: 1, maxLength: 256 } as const;
const TIME = { type: 'string', minLength: 1, maxLength: 40 } as const;

const alertsQuery = {
  type: 'object', additionalProperties: false,
  properties: {
    agent: TEXT, severity: { type: 'string', maxLength: 64 }, min_severity: { enum: SEVERITIES }, status: { enum: ALERT_STATUSES },
    from: TIME, to: TIME, limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: 50 }, cursor: { type: 'string', maxLength: 200 },
  },
} as const;

/** An ISO 8601 time or epoch milliseconds, or a QueryError naming the field. */
function parseTime(field: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const ms = /^\d{1,15}$/.test(v) ? Number(v) : /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) ? Date.parse(v) : Number.NaN;
  if (!Number.isFinite(ms)) throw new QueryError(field, `"${v.slice(0, 40)}" is not a time: send ISO 8601 (2026-11-25T10:00:00Z) or epoch milliseconds`);
  return ms;
}

function parseSeverities(v: string | undefined): Severity[] | undefined {
  if (v === undefined) return undefined;
  const list = v.split(',').map((s) => s.trim());
  for (const s of list) if (!(SEVERITIES as string[]).includes(s)) throw new QueryError('severity', `"${s.slice(0, 20)}" is not a severity: send a comma-separated list of ${SEVERITIES.join(', ')}`);
  return list as Severity[];
}

/** The field a schema validation error is about, for the 400 body. */
function fieldOf(err: FastifyError): string {
  const v = err.validation?.[0];
  if (v === undefined) return 'request';
  const p = v.params as { missingProperty?: string; additionalProperty?: string };
  const name = p.missingProperty ?? p.additionalProperty ?? v.instancePath.replace(/^\//, '').replaceAll('/', '.');
  return name || (err.validationContext ?? 'request');
}

function hint(err: FastifyError): string {
  const v = err.validation?.[0];
  if (v === undefined) return err.message;
  const p = v.params as { additionalProperty?: string; allowedValues?: unknown[]; pattern?: string };
  if (p.additionalProperty !== undefined) return `is not a parameter of this endpoint; remove it (see docs/operations.md, "Query API")`;
  if (p.pattern === ALERT_ID) return 'an alert id is 32 lowercase hex digits: the "id" of an alert as listed by /api/v1/alerts';
  if (p.allowedValues !== undefined) return `must be one of ${p.allowedValues.join(', ')}`;
  return v.message ?? 'is invalid';
}

export function buildQueryApi(deps: QueryApiDeps): FastifyInstance {
  // Unknown parameters are an error, not silently dropped: a typo must not widen a query.
  const app = Fastify({ logger: false, ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } }, ...(deps.https ? { https: deps.https } : {}) }) as unknown as FastifyInstance;
  const expected = Buffer.from(`Bearer ${deps.token}`);

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.url.startsWith('/.well-known/')) return undefined;
    const got = Buffer.from(req.headers.authorization ?? '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      return reply.code(401).header('www-authenticate', 'Bearer realm="chainwatch"').send({ error: { field: 'authorization', message: 'send Authorization: Bearer <token> (the token is in the state dir file api-token, or CHAINWATCH_API_TOKEN)' } });
    }
  });

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err.validation) return reply.code(400).send({ error: { field: fieldOf(err), message: hint(err) } });
    // The field apart from the reason, as for schema errors: the message does not name it again.
    if (err instanceof QueryError) return reply.code(400).send({ error: { field: err.field, message: err.reason } });
    if (err instanceof StateError) return reply.code(404).send({ error: { field: 'agent', message: err.message } });
    if (err.statusCode !== undefined && err.statusCode < 500) return reply.code(err.statusCode).send({ error: { field: 'request', message: err.message } });
    const retry = err instanceof ChainwatchError && err.retryable;
    return reply.code(503).send({ error: { field: 'store', message: `the event store did not answer (${err.message.slice(0, 200)}); retry${retry ? '' : ' later'}` } });
  });

  // Public by design: receivers fetch these to verify our Security Event Tokens.
  app.get('/.well-known/jwks.json', async (_req, reply) => {
    const jwks = deps.jwks?.();
    if (jwks === undefined) return reply.code(404).send({ error: { field: 'response.ssf', message: 'no SSF signing key: configure response.ssf' } });
    return jwks;
  });

  app.get('/api/v1/alerts', { schema: { querystring: alertsQuery } }, async (req) => {
    const q = req.query as { agent?: string; severity?: string; min_severity?: Severity; status?: AlertStatus; from?: string; to?: string; limit: number; cursor?: string };
    const f: AlertFilter = { limit: q.limit };
    if (q.agent !== undefined) f.agent = q.agent;
    const sev = parseSeverities(q.severity);
    if (sev !== undefined) f.severity = sev;
    if (q.min_severity !== undefined) f.minSeverity = q.min_severity;
    if (q.status !== undefined) f.status = q.status;
    const from = parseTime('from', q.from);
    const to = parseTime('to', q.to);
    if (from !== undefined) f.from = from;
    if (to !== undefined) f.to = to;
    if (from !== undefined && to !== undefined && from >= to) throw new QueryError('from', 'must be before to');
    if (q.cursor !== undefined) f.cursor = decodeCursor(q.cursor);
    return deps.store.alerts(f);
  });

  app.get('/api/v1/alerts/:id', { schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: ALERT_ID } }, required: ['id'] } } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const found = await deps.store.alert(id);
    if (found === undefined) return reply.code(404).send({ error: { field: 'id', message: `no alert ${id}` } });
    return { ...found.stored, evidence: found.stored.alert.evidence, calls: found.calls };
  });

  const statusBody = {
    type: 'object', additionalProperties: false, required: ['by'],
    properties: { by: { type: 'string', minLength: 1, maxLength: 128 }, note: { type: 'string', maxLength: 2000, default: '' } },
  } as const;
  const transitions: [string, AlertStatus][] = [['ack', 'acknowledged'], ['resolve', 'resolved'], ['reopen', 'open']];
  for (const [verb, status] of transitions) {
    app.post(`/api/v1/alerts/:id/${verb}`, {
      schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: ALERT_ID } }, required: ['id'] }, body: statusBody },
    }, async (req, reply) => {
      const { id } = req.params as { id: string };
      const { by, note } = req.body as { by: string; note: string };
      const at = Date.now();
      if (!(await deps.store.setStatus(id, { status, by, note, at }))) return reply.code(404).send({ error: { field: 'id', message: `no alert ${id}` } });
      deps.audit(by, `alert.${verb}`, id, note);
      return { id, status, by, note, at: new Date(at).toISOString() };
    });
  }

  app.get('/api/v1/agents/top', {
    schema: { querystring: { type: 'object', additionalProperties: false, properties: { window: { type: 'string', maxLength: 20, default: '24h' }, to: TIME, limit: { type: 'integer', minimum: 1, maximum: 100, default: 10 } } } },
  }, async (req) => {
    const q = req.query as { window: string; to?: string; limit: number };
    const window = parseDuration(q.window);
    if (window === undefined || window <= 0) throw new QueryError('window', `"${q.window.slice(0, 20)}" is not a duration: send e.g. 1h, 24h or 7d`);
    // Event time, so the answer for replayed data is the same whenever it is asked.
    const to = parseTime('to', q.to) ?? (deps.engine.now > 0 ? Math.ceil(deps.engine.now) + 1 : Date.now());
    const from = to - window;
    return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), agents: await deps.store.topAgents(from, to, q.limit) };
  });

  app.get('/api/v1/agents/:id', {
    schema: { params: { type: 'object', properties: { id: TEXT }, required: ['id'] }, querystring: { type: 'object', additionalProperties: false, properties: { chains: { type: 'integer', minimum: 0, maximum: 500, default: 20 } } } },
  }, async (req) => {
    const { id } = req.params as { id: string };
    const { chains } = req.query as { chains: number };
    return { baseline: agentSummary(deps.engine, id), recentChains: await deps.store.recentChains(id, chains) };
  });

  return app;
}
