import { createServer } from 'node:net';

/**
 * A free port below the kernel's ephemeral range (32768+), picked at random and checked by binding it.
 * Ports from `listen(0)` come from that range and are soon handed out again, so two meshes started
 * by test files running side by side could end up sharing one.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}
