// gVisor mode for real, as root: a Pod-like network namespace this test creates (veth to a web
// server in the root namespace), the datapath started in it with --mode=gvisor; the datapath makes
// the agent's namespace and TUN link and runs busybox in runsc as a non-root user on a read-only
// rootfs. The agent connects to the server by address, with no proxy settings: the allowed port
// answers and is audited `allow` with proto `transparent`; the other port fails and is audited
// `deny`. The agent's exit reaches /status; stopping the datapath removes the agent's namespace.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { alive, cmdlineOf, descendants } from '../../e2e/cluster/proc.ts';
import { eventually } from '../../e2e/testing/eventually.ts';
import { createVethNetns } from '../../e2e/testing/veth-netns.ts';
import { cleanupDir, readAudit, run, startDatapath } from '../cli/harness.ts';
import { busyboxRootfs } from './testing/rootfs.ts';

const tag = randomBytes(3).toString('hex');
const POD = `lgvpod-${tag}`;
const octet = randomBytes(1)[0];
const HOST_IP = `10.232.${octet}.1`;
const POD_IP = `10.232.${octet}.2`;

const cleanups: (() => unknown)[] = [];

for (const runtime of ['runsc', 'process'] as const) {
  describe(`gVisor mode (agent runtime ${runtime})`, () => {
    let allowedPort = 0;
    let deniedPort = 0;
    let holdPort = 0;
    before(async () => {
      if (runtime === 'runsc') {
        const pod = await createVethNetns({
          netns: POD,
          hostIf: `lgh${tag}`,
          nsIf: `lgp${tag}`,
          hostIP: HOST_IP,
          nsIP: POD_IP,
        });
        cleanups.push(() => pod.remove());
      }
      const serve = async (body: string) => {
        const s = createServer((_q, r) => r.end(body));
        await new Promise<void>((r) => s.listen(0, HOST_IP, r));
        cleanups.push(() => s.close());
        return (s.address() as { port: number }).port;
      };
      allowedPort = await serve('hello agent');
      const hold = createNetServer((c) => c.on('error', () => {})); // accepts and never answers
      await new Promise<void>((r) => hold.listen(0, HOST_IP, r));
      cleanups.push(() => hold.close());
      holdPort = (hold.address() as { port: number }).port;
      deniedPort = await serve('must not be seen');
    });

    /** The datapath in gVisor mode inside POD, its agent on a fresh busybox rootfs; stopped and
     *  cleaned up at the end unless the test stopped it (stop() is idempotent). */
    const startGvisor = async (args: string[]) => {
      const rootfs = busyboxRootfs();
      cleanups.push(() => cleanupDir(rootfs));
      const dp = await startDatapath(
        ['--mode=gvisor', `--agent-rootfs=${rootfs}`, `--agent-runtime=${runtime}`, ...args],
        {},
        ['ip', 'netns', 'exec', POD],
      );
      cleanups.push(() => cleanupDir(dp.dir));
      cleanups.push(() => dp.stop());
      return dp;
    };
    /** GET on the datapath's health listener, which is on POD's loopback. */
    const health = (dp: { health: { port: number } }, path: string) =>
      run('ip', ['netns', 'exec', POD, 'curl', '-sS', `http://127.0.0.1:${dp.health.port}${path}`]);

    test('the agent reaches an allowed server transparently, a denied one fails; both audited', async () => {
      const script = [
        'id -u',
        // an HTTP/1.0 request by hand: the response ends with the body, then the server closes
        `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc ${HOST_IP} ${allowedPort}; echo " allowed-rc=$?"`,
        // denied: the datapath resets the connection; the agent receives nothing
        `echo "denied-bytes=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc ${HOST_IP} ${deniedPort} | wc -c)"`,
        // refused before the handshake (the datapath answers the SYN with a RST)
        `printf x | nc ${HOST_IP} ${deniedPort} 2>&1; echo " denied-rc=$?"`,
        'echo x > /probe 2>/dev/null; echo "rootfs-write-rc=$?"',
        'ls /etc/lattice >/dev/null 2>&1; echo "creds-rc=$?"',
        'exit 7',
      ].join('; ');
      const dp = await startGvisor([
        '--agent-binary=/bin/sh',
        '--agent-arg=-c',
        `--agent-arg=${script}`,
        '--egress-allow',
        `${HOST_IP}:${allowedPort}`,
      ]);
      const out = () =>
        dp
          .stderr()
          .split('\n')
          .filter((l) => l.includes('"agent output"'))
          .map((l) => JSON.parse(l).line as string)
          .join('\n');
      const status = async () => {
        const r = await health(dp, '/status');
        return JSON.parse(r.stdout) as {
          gvisor: {
            netns: string;
            agent: { state: string; exitCode?: number };
            interceptedConnections: number;
            netstack: { drops: Record<string, number> };
          };
        };
      };
      const st = await eventually(
        'the agent to exit',
        async () => {
          const s = await status();
          // (the exit may be reported before the last output lines are read)
          return s.gvisor.agent.state === 'exited' && out().includes('creds-rc=') ? s : undefined;
        },
        60_000,
      ).catch((e) => {
        throw new Error(`${e.message}\n${dp.stderr()}`);
      });
      const o = out();
      assert.match(o, /^65533$/m, `the agent runs as uid 65533\n${o}`);
      assert.match(o, /hello agent allowed-rc=0/, o);
      assert.match(o, /denied-bytes=\s*0$/m, o);
      assert.match(o, /Connection refused\n denied-rc=1/, o);
      assert.doesNotMatch(o, /must not be seen/);
      assert.match(o, /rootfs-write-rc=[1-9]/, 'the rootfs is read-only');
      assert.match(o, /creds-rc=[1-9]/, 'no credentials directory');
      assert.equal(st.gvisor.agent.exitCode, 7);
      // only the allowed connection was accepted; the two denied SYNs were refused
      assert.equal(st.gvisor.interceptedConnections, 1);
      assert.equal(st.gvisor.netstack.drops['tcp-refused'], 2);

      const recs = readAudit(dp.auditPath).filter((r) => r.proto === 'transparent');
      const allow = recs.find((r) => r.event === 'decision' && r.port === allowedPort);
      assert.equal(allow?.decision, 'allow');
      assert.equal(allow?.host, HOST_IP);
      assert.match(String(allow?.src), /^169\.254\.77\.2:/);
      const closed = recs.find((r) => r.event === 'close' && r.port === allowedPort);
      assert.ok(Number(closed?.bytesDown) > 0, 'the response was relayed');
      const denies = recs.filter((r) => r.port === deniedPort);
      assert.equal(denies.length, 2, 'one decision record per refused connection, no close record');
      for (const d of denies) {
        assert.equal(d.event, 'decision');
        assert.equal(d.decision, 'deny');
        assert.equal(d.reason, 'default');
      }
      assert.equal(recs.filter((r) => r.port === allowedPort).length, 2, 'one decision, one close');

      const netns = st.gvisor.netns;
      assert.match((await run('ip', ['netns', 'list'])).stdout, new RegExp(netns));
      assert.equal(await dp.stop(), 0);
      assert.doesNotMatch(
        (await run('ip', ['netns', 'list'])).stdout,
        new RegExp(netns),
        'namespace removed',
      );
    });

    test('--max-connections limits the open connections of the agent', async () => {
      // the first connection stays open (the server holds it); the second is over the limit
      const script = [
        `(printf 'GET / HTTP/1.0\\r\\n\\r\\n'; sleep 30) | nc ${HOST_IP} ${holdPort} &`,
        'sleep 1',
        `echo "second-bytes=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc ${HOST_IP} ${allowedPort} | wc -c)"`,
      ].join('\n');
      const dp = await startGvisor([
        '--agent-binary=/bin/sh',
        '--agent-arg=-c',
        `--agent-arg=${script}`,
        '--max-connections=1',
        '--drain-timeout=1s', // the held connection would otherwise keep the drain waiting
        '--egress-allow',
        `${HOST_IP}:${allowedPort}`,
        '--egress-allow',
        `${HOST_IP}:${holdPort}`,
      ]);
      const line = await eventually(
        'the second connection',
        () => /"line":"second-bytes=\s*(\d+)"/.exec(dp.stderr())?.[1],
        30_000,
      ).catch((e) => {
        throw new Error(`${e.message}\n${dp.stderr()}`);
      });
      assert.equal(line, '0', `the connection over the limit got nothing\n${dp.stderr()}`);
      const recs = readAudit(dp.auditPath).filter((r) => r.event === 'decision');
      assert.equal(recs.filter((r) => r.port === holdPort).length, 1);
      assert.equal(recs.filter((r) => r.port === allowedPort).length, 0, 'refused before any decision');
      const m = await health(dp, '/metrics');
      assert.match(m.stdout, /lattice_rejected_connections_total\{reason="limit"\} 1/);
      // the agent's background nc (still holding its connection) does not outlive the datapath
      const netns = /"netns":"(lattice-agent-[0-9a-f]+)"/.exec(dp.stderr())![1];
      assert.equal(await dp.stop(), 0, dp.stderr());
      assert.doesNotMatch((await run('ip', ['netns', 'list'])).stdout, new RegExp(netns));
      assert.equal((await run('pgrep', ['-f', `nc ${HOST_IP} ${holdPort}`])).code, 1, 'no nc left');
    });

    // SIGKILL for runsc only: in the process runtime `chroot --userspec` changes credentials, which
    // clears the parent-death signal (docs/gvisor.md)
    for (const how of runtime === 'runsc' ? (['SIGTERM', 'SIGKILL'] as const) : (['SIGTERM'] as const)) {
      test(`the datapath ending by ${how} ends the agent and its link`, async () => {
        const dp = await startGvisor(['--agent-binary=/bin/sleep', '--agent-arg=1000']);
        const netns = /"netns":"(lattice-agent-[0-9a-f]+)"/.exec(dp.stderr())?.[1];
        assert.ok(netns, dp.stderr());
        cleanups.push(() => run('ip', ['netns', 'del', netns]));
        // everything the datapath started: socat, the agent (and runsc's gofer and sandbox)
        const pids = await eventually(
          'agent processes',
          async () => {
            const r = await health(dp, '/status');
            const agent = (JSON.parse(r.stdout) as { gvisor: { agent: { pid?: number } } }).gvisor.agent.pid;
            if (agent === undefined) return undefined;
            const list = descendants(dp.proc.pid!).filter((p) => p.pid !== dp.proc.pid);
            return list.some((p) => p.pid === agent) &&
              (runtime === 'process' || descendants(agent).length >= 3)
              ? list
              : undefined;
          },
          30_000,
        );
        if (how === 'SIGTERM') assert.equal(await dp.stop(), 0);
        else {
          dp.proc.kill('SIGKILL');
          await dp.exited;
        }
        const running = () => pids.filter(alive);
        await eventually('processes to end', () => running().length === 0, 10_000).catch(() => {
          throw new Error(
            `still alive: ${running()
              .map((p) => `${p.pid} ${cmdlineOf(p.pid)}`)
              .join('; ')}`,
          );
        });
        if (how === 'SIGTERM') {
          assert.doesNotMatch((await run('ip', ['netns', 'list'])).stdout, new RegExp(netns));
          assert.match(dp.stderr(), /"msg":"agent exited"/);
        }
      });
    }
  });
}

after(async () => {
  for (const c of cleanups.reverse()) await c();
});
