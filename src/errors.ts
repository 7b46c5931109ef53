/**
 * Every error chainwatch raises on purpose. Codes are stable (`CW_ERR_<AREA>_<WHAT>`) so logs,
 * metrics and tests can match on them; `retryable` is false unless a retry can succeed.
 */
export class ChainwatchError extends Error {
  readonly code: string = 'CW_ERR';
  readonly retryable: boolean = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A broken invariant inside chainwatch — a bug, never bad input: the message says which one, so
 * that a report of it can be traced to its place.
 */
export class InternalError extends ChainwatchError {
  override readonly code = 'CW_ERR_INTERNAL';
}

/** A message the kill-switch cannot send as configured now (its channel was removed while messages for it waited). */
export class ResponseConfigError extends ChainwatchError {
  override readonly code = 'CW_ERR_RESPONSE_CONFIG';
}

/** Kafka brokers that could not be reached or refused what chainwatch asked (topics and groups at start, a changelog read later). */
export class KafkaError extends ChainwatchError {
  override readonly code = 'CW_ERR_KAFKA';
  override readonly retryable = true;
}

/** A telemetry payload that cannot be decoded. `offset` is the byte where decoding stopped. */
export class OtlpDecodeError extends ChainwatchError {
  override readonly code = 'CW_ERR_OTLP_DECODE';
  constructor(message: string, readonly offset?: number) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`);
  }
}

/** A request body larger than the configured limit, before or after decompression. */
export class PayloadTooLargeError extends ChainwatchError {
  override readonly code = 'CW_ERR_OTLP_TOO_LARGE';
  constructor(readonly limitBytes: number) {
    super(`request body exceeds ${limitBytes} bytes (after decompression); send smaller batches or raise receiver.maxBodyBytes`);
  }
}

/** The engine cannot accept more work right now; the sender should retry later. */
export class BackpressureError extends ChainwatchError {
  override readonly code = 'CW_ERR_BACKPRESSURE';
  override readonly retryable = true;
  constructor(readonly retryAfterSeconds: number) {
    super(`chainwatch is over its buffer limit; retry after ${retryAfterSeconds}s`);
  }
}

/** A line of a replay or history file that is not a known record format. */
export class InputFormatError extends ChainwatchError {
  override readonly code = 'CW_ERR_INPUT_FORMAT';
  constructor(message: string, readonly file?: string, readonly line?: number) {
    super(file === undefined ? message : `${file}${line === undefined ? '' : `:${line}`}: ${message}`);
  }
}

/** One problem in a policy or config file, located for the person who will fix it. */
export interface FileIssue {
  /** Empty, with line 0, for a setting no file locates (ConfigError.ofSetting): `path` names it. */
  file: string;
  line: number;
  column: number;
  /** Where in the document, e.g. policies[0].limits.chain_calls. */
  path: string;
  message: string;
}

export type PolicyIssue = FileIssue;

/** A file that failed validation: every issue at once, each with file:line:column. */
export class FileIssuesError extends ChainwatchError {
  constructor(readonly issues: FileIssue[]) {
    super(issues.map((i) => `${i.line > 0 ? `${i.file}:${i.line}:${i.column}: ` : ''}${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n'));
  }
}

/** Policy files that failed to load; a policy set with any issue never takes effect. */
export class PolicyError extends FileIssuesError {
  override readonly code = 'CW_ERR_POLICY';
}

/** A configuration that failed validation at start. */
export class ConfigError extends FileIssuesError {
  override readonly code = 'CW_ERR_CONFIG';

  /** One bad setting checked where no file locates it (a secret read from the environment): `path` names it. */
  static ofSetting(path: string, message: string): ConfigError {
    return new ConfigError([{ file: '', line: 0, column: 0, path, message }]);
  }
}

/** Persisted state that cannot be read back (corrupt file, unknown version). */
export class StateError extends ChainwatchError {
  override readonly code = 'CW_ERR_STATE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A store (SQLite or ClickHouse) that refused a write or a query. */
export class StoreError extends ChainwatchError {
  override readonly code = 'CW_ERR_STORE';
  constructor(message: string, override readonly retryable = false, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A query API request whose parameters are invalid; `field` names the one to fix, `reason` what is wrong with it. */
export class QueryError extends ChainwatchError {
  override readonly code = 'CW_ERR_QUERY';
  constructor(readonly field: string, readonly reason: string) {
    super(`${field}: ${reason}`);
  }
}
