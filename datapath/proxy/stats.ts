// Egress counters for /status (and so for the LatticeSandbox status the operator writes): allowed and
// denied totals, and the most recent distinct denials with a count each, bounded in size. No I/O.

export interface RecentDenial {
  dst: string;
  rule: string;
  count: number;
  last: string;
}

export class EgressStats {
  allowed = 0;
  denied = 0;
  private readonly recent = new Map<string, RecentDenial>();
  private readonly max: number;

  constructor(maxRecent = 20) {
    this.max = maxRecent;
  }

  allow(): void {
    this.allowed++;
  }

  /** `dst` is `host:port` as requested; `rule` the deciding rule or reason. */
  deny(dst: string, rule: string, now: number): void {
    this.denied++;
    const key = `${dst} ${rule}`;
    const prev = this.recent.get(key);
    // re-insert so the map's order is least recently denied first
    if (prev !== undefined) this.recent.delete(key);
    this.recent.set(key, { dst, rule, count: (prev?.count ?? 0) + 1, last: new Date(now).toISOString() });
    if (this.recent.size > this.max) this.recent.delete(this.recent.keys().next().value as string);
  }

  /** Most recent first. */
  recentDenials(): RecentDenial[] {
    return [...this.recent.values()].reverse();
  }
}
