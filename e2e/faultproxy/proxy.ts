// A fault-injecting TCP proxy for tests: put it in front of a real server (the kube-apiserver)
// and break the connections between them on command. It forwards bytes untouched (TLS passes
// through end to end), listens on loopback only, and injects:
//   cutAll()        destroy every open connection on both sides (a dropped watch stream);
//   refuse(on)      reset new connections at once (a server that is down);
//   stall(on)       keep connections open but forward nothing (a half-dead network path);
//   stallOpen()     the same for the connections open now only; new ones work (a stream that
//                   silently died while the network is fine — only an idle timeout finds it).
import net from 'node:net';

export type FaultProxyStats = { accepted: number; cut: number; refused: number; open: number };

export class FaultProxy {
  readonly #server: net.Server;
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<{ a: net.Socket; b: net.Socket; stalled: boolean }>();
  #refuse = false;
  #stall = false;
  readonly stats: FaultProxyStats = { accepted: 0, cut: 0, refused: 0, open: 0 };

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = net.createServer((client) => this.#accept(client));
  }

  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    const p = new FaultProxy(target);
    await new Promise<void>((resolve, reject) => {
      p.#server.once('error', reject);
      p.#server.listen(0, '127.0.0.1', resolve);
    });
    return p;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  #accept(client: net.Socket): void {
    if (this.#refuse) {
      this.stats.refused++;
      client.resetAndDestroy();
      return;
    }
    this.stats.accepted++;
    const upstream = net.connect(this.#target.port, this.#target.host);
    const pair = { a: client, b: upstream, stalled: false };
    this.#pairs.add(pair);
    this.stats.open = this.#pairs.size;
    const forward = (from: net.Socket, to: net.Socket) =>
      from.on('data', (d) => {
        if (!this.#stall && !pair.stalled) to.write(d);
      });
    forward(client, upstream);
    forward(upstream, client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      if (this.#pairs.delete(pair)) this.stats.open = this.#pairs.size;
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  }

  /** Destroys every open connection; returns how many were cut. */
  cutAll(): number {
    const n = this.#pairs.size;
    for (const { a, b } of this.#pairs) {
      a.resetAndDestroy();
      b.destroy();
    }
    this.#pairs.clear();
    this.stats.cut += n;
    this.stats.open = 0;
    return n;
  }

  /** Stalls the connections open now; returns how many. */
  stallOpen(): number {
    for (const p of this.#pairs) p.stalled = true;
    return this.#pairs.size;
  }

  refuse(on: boolean): void {
    this.#refuse = on;
  }

  stall(on: boolean): void {
    this.#stall = on;
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

/** A copy of a kubeconfig (YAML text) whose server URL points at the proxy instead. */
export function throughProxy(kubeconfigText: string, serverURL: string, proxyPort: number): string {
  const u = new URL(serverURL);
  if (!kubeconfigText.includes(serverURL)) throw new Error(`kubeconfig does not name ${serverURL}`);
  return kubeconfigText.replaceAll(serverURL, `${u.protocol}//${u.hostname}:${proxyPort}`);
}
