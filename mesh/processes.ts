/**
 * Supervision of one child process — the one process spawner of the repository, used by `npm start`,
 * the test meshes and the bench: start it in its own process group with an IPC channel (the child guard,
 * mesh/child-guard.ts, stops it when its parent dies), send its output to a log file and to listeners,
 * restart it with backoff when it crashes (or not: see NO_RESTART), and stop it (SIGTERM, then SIGKILL
 * after a grace period).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { type WriteStream } from 'node:fs';
import { openLogFile } from './logs';
import { LineSplitter } from './logs';
import { PROCESS_ENV } from './process-env';

/** When a crashed process is started again, and when the launcher stops trying. */
export interface CrashPolicy {
  /** Crashes within `windowMs` after which the process is left down. */
  maxCrashes: number;
  windowMs: number;
  /** Delay before the first restart; doubles with every further crash in the window. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** `npm start`: restart with backoff, give up after 5 crashes within a minute. */
export const DEFAULT_CRASH_POLICY: CrashPolicy = { maxCrashes: 5, windowMs: 60_000, baseDelayMs: 500, maxDelayMs: 10_000 };

/** Tests that kill processes on purpose, and the bench: a crash is final, the process stays down. */
export const NO_RESTART: CrashPolicy = { maxCrashes: 1, windowMs: Number.POSITIVE_INFINITY, baseDelayMs: 0, maxDelayMs: 0 };

export type RestartDecision = { giveUp: false; delayMs: number; crashes: number } | { giveUp: true; crashes: number };

/**
 * What to do after a crash, given the times of the crashes so far (this one included): restart after
 * an exponential backoff, or give up when `maxCrashes` happened within the window.
 */
export function restartDecision(crashTimes: number[], now: number, policy: CrashPolicy = DEFAULT_CRASH_POLICY): RestartDecision {
  const crashes = crashTimes.filter((time) => now - time < policy.windowMs).length;
  if (crashes >= policy.maxCrashes) return { giveUp: true, crashes };
  const delayMs = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, crashes - 1));
  return { giveUp: false, delayMs, crashes };
}

/** How a process ended, in words: `exited with code 1`, `was killed by SIGKILL`. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `was killed by ${signal}`;
  return `exited with code ${code ?? 'unknown'}`;
}

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string | undefined>;
  /** Every output line is appended here (default: no file; listeners of `line` still get every line). */
  logFile?: string;
  /** Signal the whole process group (default) or only the process (one that stops its own children). */
  signalGroup?: boolean;
}

export interface SupervisorEvents {
  /** A new instance is running (first start or a restart). */
  started: [pid: number];
  /** An instance ended while nobody asked it to. */
  crashed: [info: { pid: number; how: string; decision: RestartDecision }];
  /** One line of the child's stdout or stderr. */
  line: [line: string];
  /** A message the child sent over IPC. */
  message: [message: unknown];
  /** The instance ended (for any reason). */
  exit: [info: { pid: number; code: number | null; signal: NodeJS.Signals | null }];
}

/**
 * One supervised service. `start()` runs it; a crash is reported (`crashed`) and followed by a restart
 * after a backoff, until `maxCrashes` crashes within the window (then `decision.giveUp`). `stop()`
 * ends it for good.
 */
export class Supervisor extends EventEmitter<SupervisorEvents> {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private crashTimes: number[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private log: WriteStream | undefined;
  private logClosed: Promise<void> | undefined;
  /** Set once the launcher gave up on the process after too many crashes. */
  gaveUp = false;
  /** Every pid this supervisor started, oldest first. */
  readonly pids: number[] = [];

  constructor(
    readonly spec: ProcessSpec,
    private readonly policy: CrashPolicy = DEFAULT_CRASH_POLICY,
  ) {
    super();
    if (spec.logFile) {
      this.log = openLogFile(spec.logFile);
      this.log.on('error', () => undefined);
    }
  }

  get name(): string {
    return this.spec.name;
  }

  /** The pid of the running instance, if one runs. */
  get pid(): number | undefined {
    return this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  get running(): boolean {
    return this.pid !== undefined;
  }

  start(): void {
    if (this.stopping) return;
    const child = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      // The mesh's runtime settings (mesh/process-env.ts), unless the caller's environment sets them.
      env: { ...PROCESS_ENV, ...this.spec.env },
      // Its own process group: a terminal's Ctrl-C reaches only the launcher, which stops the children
      // in order (services before the database). The IPC channel tells the child when the launcher dies.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.child = child;
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.on('message', (message) => this.emit('message', message));
    child.on('error', (error) => this.writeLine(`launcher: cannot start ${this.name}: ${error.message}`));
    for (const stream of [child.stdout!, child.stderr!]) {
      const splitter = new LineSplitter();
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => splitter.push(chunk).forEach((line) => this.writeLine(line)));
      stream.on('end', () => splitter.flush().forEach((line) => this.writeLine(line)));
    }
    // The IPC channel is only a liveness signal; it must not keep the launcher running.
    child.channel?.unref();
    child.once('exit', (code, signal) => this.onExit(child, code, signal));
    if (child.pid !== undefined) {
      this.pids.push(child.pid);
      this.log?.write(`--- ${new Date().toISOString()} launcher: started ${this.name} (pid ${child.pid}) ---\n`);
      this.emit('started', child.pid);
    }
  }

  /**
   * A line of this process's output: into its log file and to the 'line' listeners. Also for what the
   * launcher does on the process's behalf before starting it (migrating its database, mesh/mesh.ts).
   */
  writeLine(line: string): void {
    this.log?.write(`${line}\n`);
    this.emit('line', line);
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    const pid = child.pid ?? -1;
    this.emit('exit', { pid, code, signal });
    if (this.stopping || child !== this.child) return;
    const now = Date.now();
    this.crashTimes = [...this.crashTimes.filter((time) => now - time < this.policy.windowMs), now];
    const decision = restartDecision(this.crashTimes, now, this.policy);
    const how = describeExit(code, signal);
    this.log?.write(`--- ${new Date().toISOString()} launcher: ${this.name} (pid ${pid}) ${how} ---\n`);
    if (decision.giveUp) this.gaveUp = true;
    this.emit('crashed', { pid, how, decision });
    if (!decision.giveUp) {
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        this.start();
      }, decision.delayMs);
    }
  }

  /** Sends a signal to the running instance's process group (the service and anything it started). */
  signal(signal: NodeJS.Signals): void {
    const pid = this.pid;
    if (pid === undefined) return;
    try {
      process.kill(this.spec.signalGroup === false ? pid : -pid, signal);
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    }
  }

  /** Stops the process for good: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    if (this.running) {
      this.signal('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        this.exited.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.log?.write(`--- ${new Date().toISOString()} launcher: ${this.name} did not stop within ${graceMs} ms; killing it ---\n`);
        this.signal('SIGKILL');
        await this.exited;
      }
    }
    this.logClosed ??= new Promise<void>((resolve) => (this.log ? this.log.end(() => resolve()) : resolve()));
    await this.logClosed;
  }

  /** Stops at once (SIGKILL), for a second Ctrl-C; resolves when the instance has exited. */
  kill(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.signal('SIGKILL');
    return this.exited;
  }

  /** Resolves when the current instance has exited (at once when none runs). */
  exit(): Promise<void> {
    return this.exited;
  }
}
