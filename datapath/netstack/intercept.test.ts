// Intercept mode (gVisor mode): the stack takes TCP for any destination through listenAll, with the
// original destination as the local address; it does not answer ICMP echo for addresses not its
// own; a stack without the option still drops such packets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildEchoRequest } from './icmp/echo.ts';
import { formatAddress, parseAddress } from './ip/address.ts';
import { Netstack } from './stack.ts';
import type { TcpConnection } from './tcp/connection.ts';

const AGENT = parseAddress('10.77.0.2');
const GW = parseAddress('10.77.0.1');

function pair(interceptAll: boolean) {
  let t = 0;
  const q: { to: 'a' | 'd'; p: Buffer }[] = [];
  const common = { now: () => t, randomBytes: (n: number) => Buffer.alloc(n, 3) };
  const agent = new Netstack({ ...common, addresses: [AGENT], output: (p) => q.push({ to: 'd', p }) });
  const dp = new Netstack({
    ...common,
    addresses: [GW],
    output: (p) => q.push({ to: 'a', p }),
    interceptAll,
  });
  const run = () => {
    for (let i = 0; i < 100; i++) {
      agent.flush();
      dp.flush();
      const m = q.shift();
      if (m === undefined) return;
      (m.to === 'a' ? agent : dp).input(m.p);
    }
  };
  return { agent, dp, run, q, advance: (ms: number) => (t += ms) };
}

describe('Netstack interceptAll', () => {
  it('accepts a connection to any address and port with the original destination as local address', () => {
    const { agent, dp, run } = pair(true);
    const accepted: TcpConnection[] = [];
    dp.listenAll((c) => accepted.push(c));
    const c = agent.connect(parseAddress('192.0.2.7'), 8443);
    run();
    assert.equal(c.state, 'ESTABLISHED');
    assert.equal(accepted.length, 1);
    assert.equal(formatAddress(accepted[0].localAddress), '192.0.2.7');
    assert.equal(accepted[0].localPort, 8443);
    assert.equal(formatAddress(accepted[0].remoteAddress), '10.77.0.2');
  });

  it('a port listener on "any of our addresses" does not take other destinations', () => {
    const { agent, dp, run } = pair(true);
    const own: TcpConnection[] = [];
    const all: TcpConnection[] = [];
    dp.listen(80, (c) => own.push(c));
    dp.listenAll((c) => all.push(c));
    agent.connect(GW, 80);
    agent.connect(parseAddress('192.0.2.8'), 80);
    run();
    assert.equal(own.length, 1);
    assert.equal(all.length, 1);
    assert.equal(formatAddress(all[0].localAddress), '192.0.2.8');
  });

  it('a SYN admit refuses is answered with a RST and never accepted', () => {
    const { agent, dp, run } = pair(true);
    const accepted: TcpConnection[] = [];
    const asked: string[] = [];
    dp.listenAll(
      (c) => accepted.push(c),
      (local, port) => {
        asked.push(`${formatAddress(local)}:${port}`);
        return port !== 25;
      },
    );
    const refused = agent.connect(parseAddress('192.0.2.7'), 25);
    const ok = agent.connect(parseAddress('192.0.2.7'), 443);
    run();
    assert.equal(refused.error?.code, 'refused');
    assert.equal(ok.state, 'ESTABLISHED');
    assert.deepEqual(
      accepted.map((c) => c.localPort),
      [443],
    );
    assert.deepEqual(asked, ['192.0.2.7:25', '192.0.2.7:443']);
    assert.equal(dp.snapshot().drops['tcp-refused'], 1);
  });

  it('echo is answered only for its own address; listenAll needs the option', () => {
    const { dp, q } = pair(true);
    dp.input(buildEchoRequest(AGENT, parseAddress('192.0.2.9'), 1, 1));
    assert.equal(q.length, 0);
    dp.input(buildEchoRequest(AGENT, GW, 1, 1));
    assert.equal(q.length, 1);
    const plain = pair(false);
    assert.throws(() => plain.dp.listenAll(() => {}), /interceptAll/);
    const c = plain.agent.connect(parseAddress('192.0.2.7'), 80);
    plain.run();
    assert.notEqual(c.state, 'ESTABLISHED');
    assert.equal(plain.dp.snapshot().drops['not-for-us'], 1);
  });
});
