import { createServer } from 'node:net';

/**
 * A free port below the kernel's ephemeral range (32768+), picked at random and checked by binding it.
 * Ports from `listen(0)` come from that range and are soon handed out again, so two meshes started
 * by test files running side by side could end up sharing one. `taken` holds ports already promised
 * to processes that have not bound them yet (a port checked free twice would be given to both).
 */
export async function freePort(taken?: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken?.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) {
      taken?.add(port);
      return port;
    }
  }
}
