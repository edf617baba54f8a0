import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Registry } from '../health/metrics.ts';
import { buildEchoRequest } from '../netstack/icmp/echo.ts';
import { parseAddress } from '../netstack/ip/address.ts';
import { Netstack } from '../netstack/stack.ts';
import { registerNetstackMetrics } from './metrics.ts';

it('netstack counters appear in the registry, growing between scrapes, drops by reason', async () => {
  const me = parseAddress('10.3.0.1');
  const stack = new Netstack({
    addresses: [me],
    output: () => {},
    now: () => 0,
    randomBytes: (n) => Buffer.alloc(n, 1),
  });
  const registry = new Registry();
  registerNetstackMetrics(registry, () => stack);
  stack.input(buildEchoRequest(parseAddress('10.3.0.2'), me, 1, 1));
  stack.input(Buffer.from([0x45]));
  let text = await registry.metrics();
  assert.match(text, /^lattice_netstack_packets_received_total 2$/m);
  assert.match(text, /^lattice_netstack_icmp_echo_replies_total 1$/m);
  assert.match(text, /^lattice_netstack_dropped_packets_total\{reason="truncated"\} 1$/m);
  assert.match(text, /^lattice_netstack_tcp_active_connections 0$/m);
  stack.input(buildEchoRequest(parseAddress('10.3.0.2'), me, 1, 2));
  text = await registry.metrics();
  assert.match(text, /^lattice_netstack_packets_received_total 3$/m);
  assert.match(text, /^lattice_netstack_icmp_echo_replies_total 2$/m);
});
