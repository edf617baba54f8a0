// The hot counts and histogram write exactly what prom-client's own Counter, Gauge and Histogram write
// for the same updates, so /metrics does not change with them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HotCount, HotHistogram } from './hot-metrics.ts';
import { Counter, Gauge, Histogram, Registry } from './metrics.ts';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

test('a hot counter and gauge write what prom-client writes', async () => {
  const hot = new Registry();
  const ref = new Registry();
  const c = new HotCount({ name: 'x_total', help: 'X things', type: 'counter', registry: hot });
  const rc = new Counter({
    name: 'x_total',
    help: 'X things',
    labelNames: ['decision', 'rule'],
    registers: [ref],
  });
  const g = new HotCount({ name: 'open', help: 'Open ones', type: 'gauge', registry: hot });
  const rg = new Gauge({ name: 'open', help: 'Open ones', labelNames: ['kind'], registers: [ref] });
  const u = new HotCount({ name: 'records_total', help: 'Records', type: 'counter', registry: hot });
  const ru = new Counter({ name: 'records_total', help: 'Records', registers: [ref] });
  const allow = c.slot({ decision: 'allow', rule: 'allow 10.0.0.0/8' });
  for (let i = 0; i < 3; i++) {
    allow.value++;
    rc.inc({ decision: 'allow', rule: 'allow 10.0.0.0/8' });
  }
  c.slot({ decision: 'deny', rule: 'default "quoted"' }).value += 2;
  rc.inc({ decision: 'deny', rule: 'default "quoted"' }, 2);
  const egress = g.slot({ kind: 'egress' });
  egress.value += 1;
  egress.value += 1;
  egress.value -= 1;
  rg.inc({ kind: 'egress' }, 1);
  u.slot().value += 5;
  ru.inc(5);
  assert.equal(await hot.metrics(), await ref.metrics());
  hot.resetMetrics();
  ref.resetMetrics();
  assert.equal(
    await hot.getSingleMetricAsString('x_total'),
    '# HELP x_total X things\n# TYPE x_total counter\nx_total{decision="allow",rule="allow 10.0.0.0/8"} 0\nx_total{decision="deny",rule="default \\"quoted\\""} 0',
  );
});

test('a hot histogram writes what prom-client writes, bucket bounds included', async () => {
  const hot = new Registry();
  const ref = new Registry();
  const h = new HotHistogram({ name: 'dial_seconds', help: 'Dial time', buckets: BUCKETS, registry: hot });
  const rh = new Histogram({
    name: 'dial_seconds',
    help: 'Dial time',
    labelNames: ['result'],
    buckets: BUCKETS,
    registers: [ref],
  });
  const ok = h.slot({ result: 'ok' });
  for (const v of [0.0001, 0.0005, 0.0006, 0.003, 0.7, 10, 20]) {
    h.observe(ok, v);
    rh.observe({ result: 'ok' }, v);
  }
  h.observe(h.slot({ result: 'timeout' }), 10);
  rh.observe({ result: 'timeout' }, 10);
  assert.equal(await hot.metrics(), await ref.metrics());
  assert.match(await hot.metrics(), /dial_seconds_bucket\{le="0.0005",result="ok"\} 2\n/);
  assert.match(await hot.metrics(), /dial_seconds_bucket\{le="\+Inf",result="ok"\} 7\n/);
});
