// Name resolution, done once per connection by the datapath (the client never resolves for us).
// The system resolver uses getaddrinfo (so /etc/hosts applies); the hosts-file resolver answers only
// from a hosts(5)-format file and says "not found" for everything else — for tests and air-gapped
// sandboxes, chosen with --hosts-file.

import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { type IPAddress, parseAddressLiteral } from '../policy/address.ts';
import { canonicalHostName } from '../policy/rule.ts';

export type ResolveErrorKind = 'not-found' | 'timeout' | 'failure';

export class ResolveError extends Error {
  readonly kind: ResolveErrorKind;
  constructor(kind: ResolveErrorKind, detail: string) {
    super(`resolve ${kind}: ${detail}`);
    this.name = 'ResolveError';
    this.kind = kind;
  }
}

export interface Resolver {
  /** Every address of a canonical name, in the resolver's order; rejects with ResolveError. */
  resolve(name: string, timeoutMs: number): Promise<IPAddress[]>;
}

export class SystemResolver implements Resolver {
  async resolve(name: string, timeoutMs: number): Promise<IPAddress[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ResolveError('timeout', `${name} after ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const answers = await Promise.race([lookup(name, { all: true, order: 'verbatim' }), timeout]);
      const out: IPAddress[] = [];
      for (const a of answers) {
        const p = parseAddressLiteral(a.address);
        if (p !== null) out.push(p);
      }
      if (out.length === 0) throw new ResolveError('not-found', name);
      return out;
    } catch (e) {
      if (e instanceof ResolveError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new ResolveError(
        code === 'ENOTFOUND' || code === 'ENODATA' ? 'not-found' : 'failure',
        `${name}: ${code ?? String(e)}`,
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Parses hosts(5) text into name → addresses (in file order). Pure. */
export function parseHostsFile(text: string): Map<string, IPAddress[]> {
  const map = new Map<string, IPAddress[]>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [addrText, ...names] = line.split(/\s+/);
    const addr = parseAddressLiteral(addrText);
    if (addr === null) continue;
    for (const n of names) {
      const c = canonicalHostName(n);
      if (c === null) continue;
      const list = map.get(c) ?? [];
      list.push(addr);
      map.set(c, list);
    }
  }
  return map;
}

export class HostsFileResolver implements Resolver {
  private readonly map: Map<string, IPAddress[]>;
  constructor(path: string) {
    this.map = parseHostsFile(readFileSync(path, 'utf8'));
  }
  async resolve(name: string): Promise<IPAddress[]> {
    const a = this.map.get(name);
    if (a === undefined) throw new ResolveError('not-found', `${name} (not in the hosts file)`);
    return a;
  }
}
