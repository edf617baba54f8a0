// A probe's result as the kubelet computes it: `successThreshold` successes in a row make it
// succeed, `failureThreshold` failures in a row make it fail; until then it keeps its last
// result. Pure; the caller runs the checks every periodSeconds after initialDelaySeconds.

export type ProbeResult = 'unknown' | 'success' | 'failure';

export interface ProbeSpec {
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export interface ProbeTiming {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

/** Kubernetes defaults: period 10 s, timeout 1 s, success 1, failure 3. */
export function timing(p: ProbeSpec): ProbeTiming {
  return {
    initialDelayMs: (p.initialDelaySeconds ?? 0) * 1000,
    periodMs: (p.periodSeconds ?? 10) * 1000,
    timeoutMs: (p.timeoutSeconds ?? 1) * 1000,
    successThreshold: p.successThreshold ?? 1,
    failureThreshold: p.failureThreshold ?? 3,
  };
}

export class ProbeState {
  readonly #t: ProbeTiming;
  result: ProbeResult;
  #successes = 0;
  #failures = 0;

  constructor(t: ProbeTiming, initial: ProbeResult = 'unknown') {
    this.#t = t;
    this.result = initial;
  }

  /** Records one check; returns true if the result changed. */
  record(ok: boolean): boolean {
    const before = this.result;
    if (ok) {
      this.#failures = 0;
      this.#successes++;
      if (this.#successes >= this.#t.successThreshold) this.result = 'success';
    } else {
      this.#successes = 0;
      this.#failures++;
      if (this.#failures >= this.#t.failureThreshold) this.result = 'failure';
    }
    return this.result !== before;
  }
}
