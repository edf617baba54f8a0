// Pod IPs from the node's /24: .1 is the bridge (the node's address as seen from pods), .2–.254
// go to pods. Pure.

export class PodIpPool {
  readonly prefix: string;
  readonly #used = new Set<number>();

  /** prefix: the first three octets, e.g. "10.244.17" */
  constructor(prefix: string) {
    if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(prefix))
      throw new Error(`bad /24 prefix ${JSON.stringify(prefix)}`);
    this.prefix = prefix;
  }

  get gateway(): string {
    return `${this.prefix}.1`;
  }

  get cidr(): string {
    return `${this.prefix}.0/24`;
  }

  allocate(): string {
    for (let host = 2; host <= 254; host++) {
      if (!this.#used.has(host)) {
        this.#used.add(host);
        return `${this.prefix}.${host}`;
      }
    }
    throw new Error(`no free pod IP left in ${this.cidr}`);
  }

  release(ip: string): void {
    if (ip.startsWith(`${this.prefix}.`)) this.#used.delete(Number(ip.slice(this.prefix.length + 1)));
  }
}
