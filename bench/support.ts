import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEV_IDENTITIES, writeKeySet } from '../services/kit/keys';
import { Client } from 'pg';
export { freePort } from '../mesh/ports';

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

export const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

/** Peak resident set size of a process in MB (VmHWM), read from /proc. */
export function peakRssMb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s. */
const CLOCK_TICKS = 100;

export interface ProcStat {
  pid: number;
  ppid: number;
  /** Own CPU (utime + stime) and that of the children it has reaped (cutime + cstime), in ms. */
  ownMs: number;
  reapedMs: number;
}

/** A process's parent and CPU times from /proc/<pid>/stat; undefined once it is gone. */
export function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const ticks = (index: number) => Number(fields[index]);
    return { pid, ppid: ticks(1), ownMs: ((ticks(11) + ticks(12)) * 1000) / CLOCK_TICKS, reapedMs: ((ticks(13) + ticks(14)) * 1000) / CLOCK_TICKS };
  } catch {
    return undefined; // gone meanwhile
  }
}

/** CPU time a process has used so far (user + system), in ms; NaN once it is gone. */
export const cpuMs = (pid: number): number => readStat(pid)?.ownMs ?? NaN;

export async function sql(url: string, text: string, params: unknown[] = []): Promise<unknown[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows;
  } finally {
    await client.end();
  }
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map((r) => line(r.map(String)))].join('\n');
}

/**
 * A throw-away key set for a bench run (services/kit/keys.ts): the bench's processes each get their own
 * key from it, and the bench signs its own calls with the identity it plays (operator, or orchestrator
 * when it drives a service directly), which it can only do because it made these keys.
 */
export async function benchKeys(): Promise<{ dir: string; remove(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'erasure-bench-keys-'));
  await writeKeySet(dir, DEV_IDENTITIES);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
