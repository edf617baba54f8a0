// Metrics that move on every connection, kept as plain numbers and turned into prom-client's
// exposition only when scraped.
//
// Why: prom-client's inc()/observe() validate and hash the label set on every call, even through a
// child from labels() (a string built and looked up per call). The six updates of a proxied
// connection cost ~1.6 µs in a hot loop and ~5 µs of connect p50 in place (docs/performance.md).
// Here an update is a number added to a slot the caller keeps. These objects register with the same
// prom-client Registry (it needs name, help, type, get() and reset()), so /metrics is unchanged.

import type * as Prom from 'prom-client';

type Labels = Record<string, string | number>;

/** What prom-client's Registry reads from a metric's get() to write /metrics. */
interface Exposition {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: { labels: Labels; value: number; metricName?: string }[];
  aggregator: 'sum';
}

/** One label set's value; callers keep it and add to `value`. */
export interface CountSlot {
  readonly labels: Labels;
  value: number;
}

interface Registrable {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  get(): Promise<Exposition>;
  reset(): void;
}

/** A counter or gauge whose label sets are slots (the caller caches the slot it updates). */
export class HotCount implements Registrable {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly aggregator = 'sum' as const;
  private readonly slots = new Map<string, CountSlot>();

  constructor(opts: { name: string; help: string; type: 'counter' | 'gauge'; registry: Prom.Registry }) {
    this.name = opts.name;
    this.help = opts.help;
    this.type = opts.type;
    opts.registry.registerMetric(this as unknown as Prom.Metric);
  }

  /** The slot of a label set (created at 0). Look it up once and keep it: this builds a key. */
  slot(labels: Labels = {}): CountSlot {
    const key = JSON.stringify(labels);
    let s = this.slots.get(key);
    if (s === undefined) {
      s = { labels: { ...labels }, value: 0 };
      this.slots.set(key, s);
    }
    return s;
  }

  async get(): Promise<Exposition> {
    const values = [...this.slots.values()].map((s) => ({ labels: s.labels, value: s.value }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  reset(): void {
    for (const s of this.slots.values()) s.value = 0;
  }
}

/** One label set of a histogram: per-bucket counts (not cumulative), sum and count. */
export interface HistogramSlot {
  readonly labels: Labels;
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export class HotHistogram implements Registrable {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly bounds: readonly number[];
  private readonly slots = new Map<string, HistogramSlot>();

  constructor(opts: { name: string; help: string; buckets: readonly number[]; registry: Prom.Registry }) {
    this.name = opts.name;
    this.help = opts.help;
    this.bounds = [...opts.buckets].sort((a, b) => a - b);
    opts.registry.registerMetric(this as unknown as Prom.Metric);
  }

  slot(labels: Labels = {}): HistogramSlot {
    const key = JSON.stringify(labels);
    let s = this.slots.get(key);
    if (s === undefined) {
      s = { labels: { ...labels }, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.slots.set(key, s);
    }
    return s;
  }

  observe(s: HistogramSlot, value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    s.counts[i]++;
    s.sum += value;
    s.count++;
  }

  async get(): Promise<Exposition> {
    const values: Exposition['values'] = [];
    for (const s of this.slots.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.counts[i];
        const le = i < this.bounds.length ? this.bounds[i] : '+Inf';
        values.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }

  reset(): void {
    for (const s of this.slots.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
