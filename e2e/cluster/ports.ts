// Loopback ports for the cluster's listeners: picked free by the kernel, checked again right before
// a component starts so a taken port is reported by name instead of as a crash deep in a log.
import { type AddressInfo, createServer, type Server } from 'node:net';
import { PortTakenError } from './errors.ts';

async function listenOnce(port: number): Promise<void> {
  const server = await listening(port);
  await new Promise((r) => server.close(r));
}

function listening(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(server));
  });
}

/** n distinct free ports on 127.0.0.1 (held together while picking, so they differ). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => listening(0)));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
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
