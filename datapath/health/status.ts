// What /status and /readyz report, gathered from the parts that register here: each part adds a
// named section (a function returning plain JSON) and, if it gates readiness, a readiness check.
// The WireGuard, netstack and bus parts add theirs the same way (`status.section('overlay', ...)`).

export interface ReadinessResult {
  readonly ready: boolean;
  readonly detail?: string;
}

export class StatusRegistry {
  private readonly sections = new Map<string, () => unknown>();
  private readonly checks = new Map<string, () => ReadinessResult>();

  /** Adds (or replaces) a top-level key of the /status document. */
  section(name: string, fn: () => unknown): void {
    this.sections.set(name, fn);
  }

  /** Adds (or replaces) a readiness check; /readyz is 200 only when every check is ready. */
  readiness(name: string, fn: () => ReadinessResult): void {
    this.checks.set(name, fn);
  }

  snapshot(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, fn] of this.sections) {
      try {
        out[k] = fn();
      } catch (e) {
        out[k] = { error: e instanceof Error ? e.message : String(e) };
      }
    }
    out.ready = this.ready();
    return out;
  }

  ready(): { ready: boolean; checks: Record<string, ReadinessResult> } {
    const checks: Record<string, ReadinessResult> = {};
    let ready = true;
    for (const [k, fn] of this.checks) {
      let r: ReadinessResult;
      try {
        r = fn();
      } catch (e) {
        r = { ready: false, detail: e instanceof Error ? e.message : String(e) };
      }
      checks[k] = r;
      if (!r.ready) ready = false;
    }
    return { ready, checks };
  }
}
