// The proxy port: a TCP listener (loopback by default) that hands each client to a ProxyConnection,
// closing connections beyond the limit at once.

import { createServer, type Server, type Socket } from 'node:net';
import { ProxyConnection } from './connection.ts';
import type { ProxyDeps } from './deps.ts';

export class ProxyServer {
  private readonly server: Server;
  private readonly deps: ProxyDeps;
  private clients = 0;

  constructor(deps: ProxyDeps) {
    this.deps = deps;
    // allowHalfOpen: a client's FIN is forwarded as a FIN; its read side stays open for the reply.
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: false, noDelay: true }, (s) =>
      this.onConnection(s),
    );
    this.server.on('error', (e) => deps.log.error('proxy listener error', { error: e.message }));
  }

  get openClients(): number {
    return this.clients;
  }

  private onConnection(s: Socket): void {
    if (this.clients >= this.deps.limits.maxConnections) {
      this.deps.metrics.rejected.inc({ reason: 'limit' });
      s.on('error', () => {});
      s.destroy();
      return;
    }
    this.clients++;
    s.once('close', () => this.clients--);
    new ProxyConnection(s, this.deps).start();
  }

  listen(host: string, port: number): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port, backlog: 1024 }, () => {
        this.server.removeListener('error', reject);
        const a = this.server.address();
        if (a === null || typeof a === 'string') reject(new Error('proxy listener has no address'));
        else resolve({ address: a.address, port: a.port });
      });
    });
  }

  /** Stops accepting; open connections are left to drain. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
