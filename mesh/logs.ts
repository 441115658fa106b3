/**
 * What the launcher does with its children's output: every line goes to `<data dir>/logs/<name>.log`;
 * the console shows warnings, errors and anything that is not a JSON log line (a crash's stack trace),
 * or every line with `--verbose`, each prefixed with the service's name.
 */
import { chmodSync, closeSync, createWriteStream, fchmodSync, mkdirSync, openSync, readSync, statSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

/**
 * A log file to append to, readable by its owner only (0600, in a 0700 folder): log lines name ids and
 * internal detail. A file left by an older run with wider permissions is narrowed too.
 */
export function openLogFile(file: string): WriteStream {
  const folder = dirname(file);
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  try {
    chmodSync(folder, 0o700);
  } catch {
    // a folder this process does not own (e.g. a shared mount) keeps its mode; the file is still 0600
  }
  const fd = openSync(file, 'a', 0o600);
  fchmodSync(fd, 0o600);
  return createWriteStream('', { fd });
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const WARN = 40;

/** pino's own keys, left out of the console rendering (`service` too when it is the process's own name). */
const PINO_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'span_id', 'trace_id']);

/** `orders` padded to the widest service name, so the columns line up. */
export function prefix(service: string, width: number): string {
  return `${service.padEnd(width)} |`;
}

/**
 * The console form of one output line of a child, or undefined when it should not be shown (an info or
 * debug log line without --verbose). JSON log lines become `LEVEL message key=value…`.
 */
export function consoleLine(service: string, line: string, options: { verbose: boolean; width: number }): string | undefined {
  const trimmed = line.trimEnd();
  if (trimmed === '') return undefined;
  let record: Record<string, unknown> | undefined;
  if (trimmed.startsWith('{')) {
    try {
      record = JSON.parse(trimmed) as Record<string, unknown>;
    } catch {
      record = undefined;
    }
  }
  if (!record || typeof record.level !== 'number') return `${prefix(service, options.width)} ${trimmed}`;
  if (!options.verbose && record.level < WARN) return undefined;
  const level = LEVELS[record.level] ?? String(record.level);
  const extras = Object.entries(record)
    .filter(([key, value]) => !PINO_KEYS.has(key) && !(key === 'service' && value === service))
    .map(([key, value]) => `${key}=${renderValue(value)}`);
  return `${prefix(service, options.width)} ${level.padEnd(5)} ${String(record.msg ?? '')}${extras.length ? ` ${extras.join(' ')}` : ''}`;
}

function renderValue(value: unknown): string {
  if (value && typeof value === 'object' && 'message' in value && typeof (value as { message: unknown }).message === 'string') {
    return JSON.stringify((value as { message: string }).message);
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/** Splits a stream of chunks into complete lines; the last partial line waits for the next chunk. */
export class LineSplitter {
  private rest = '';

  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines;
  }

  /** Whatever is left once the stream has ended. */
  flush(): string[] {
    const rest = this.rest;
    this.rest = '';
    return rest === '' ? [] : [rest];
  }
}

/** The last `count` lines of a file (reads at most the last 64 KB); empty when the file does not exist. */
export function tailLines(file: string, count: number): string[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    const size = statSync(file).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const lines = buffer.toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-count);
  } finally {
    closeSync(fd);
  }
}
