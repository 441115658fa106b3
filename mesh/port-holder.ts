/**
 * Who holds a local TCP port: the socket's inode from /proc/net/tcp{,6}, then the process whose
 * /proc/<pid>/fd links to that socket. Linux only; a process this user may not inspect (another user's,
 * without root) stays unknown.
 */
import { createServer } from 'node:net';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface PortHolder {
  pid: number;
  /** The holder's command line, shortened for one line of output. */
  command: string;
}

const LISTEN = '0A';

/** Inodes of the sockets bound to `port` (listening sockets first). */
function socketInodes(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const found: { inode: string; listening: boolean }[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      if (fields.length < 10 || fields[1]!.split(':')[1] !== hexPort || fields[9] === '0') continue;
      found.push({ inode: fields[9]!, listening: fields[3] === LISTEN });
    }
  }
  return found.sort((a, b) => Number(b.listening) - Number(a.listening)).map((socket) => socket.inode);
}

function commandLine(pid: number): string {
  try {
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return command.length > 160 ? `${command.slice(0, 157)}...` : command || '?';
  } catch {
    return '?';
  }
}

/** The process holding a local TCP port, or undefined when it cannot be seen. */
export function portHolder(port: number): PortHolder | undefined {
  const inodes = socketInodes(port);
  if (!inodes.length) return undefined;
  const targets = new Set(inodes.map((inode) => `socket:[${inode}]`));
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (targets.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) return { pid: Number(pid), command: commandLine(Number(pid)) };
      } catch {
        // The fd closed meanwhile.
      }
    }
  }
  return undefined;
}

/** `pid 1234 (node …)` or `an unknown process`, for messages. */
export function describePortHolder(port: number): string {
  const holder = portHolder(port);
  return holder ? `pid ${holder.pid} (${holder.command})` : 'an unknown process';
}

/**
 * Whether `host:port` can be bound now. A port can be taken without anyone listening on it (an
 * outgoing connection, or a client that connected to itself), so binding is the test, not connecting.
 */
export function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    // Only "in use" counts as taken; another failure (e.g. a host name not of this machine) is the
    // service's to report when it binds.
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code !== 'EADDRINUSE'));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
