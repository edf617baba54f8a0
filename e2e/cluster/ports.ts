// Loopback ports for the cluster's listeners: picked free by the kernel, checked again right before
// a component starts so a taken port is reported by name instead of as a crash deep in a log.
import { createServer } from 'node:net';
import { PortTakenError } from './errors.ts';

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(bound));
    });
  });
}

/** n distinct free ports on 127.0.0.1 (held together while picking, so they differ). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import('node:net').Server>((resolve, reject) => {
          const s = createServer();
          s.unref();
          s.once('error', reject);
          s.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    return typeof a === 'object' && a ? a.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Throws PortTakenError naming the component and flag if port is bound by someone else. */
export async function assertPortFree(component: string, flag: string, port: number): Promise<void> {
  try {
    await listenOnce(port);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortTakenError(component, flag, port);
    throw err;
  }
}

/** True if something accepts TCP connections on 127.0.0.1:port. */
export async function portBound(port: number): Promise<boolean> {
  try {
    await listenOnce(port);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
  }
}
