// `lattice sandbox fence` for real, as root, in a network namespace this test creates (a veth pair
// to a web server in the root namespace). Before the fence another uid reaches the server
// directly; after it, that uid's direct connection is refused while the same request through the
// datapath's proxy (running in the namespace as the datapath uid) succeeds, and the datapath uid
// itself still connects directly. Running the fence twice leaves one set of rules; without
// privilege or without iptables it fails with a message saying so.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createVethNetns } from '../../e2e/testing/veth-netns.ts';
import { cleanupDir, run, startDatapath } from '../cli/harness.ts';

const MAIN = new URL('../cli/main.ts', import.meta.url).pathname;
const DATAPATH_UID = 65532;
const AGENT_UID = 65533;
const tag = randomBytes(3).toString('hex');
const NS = `lfence-${tag}`;
const octet = randomBytes(1)[0];
const HOST_IP = `10.231.${octet}.1`;
const NS_IP = `10.231.${octet}.2`;

const cleanups: (() => unknown)[] = [];
const inNs = (...args: string[]) => run('ip', ['netns', 'exec', NS, ...args]);
const asUid = (uid: number) => ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
const fence = (extra: string[] = [], prefix: string[] = []) =>
  inNs(...prefix, process.execPath, MAIN, 'sandbox', 'fence', `--datapath-uid=${DATAPATH_UID}`, ...extra);

describe('sandbox fence in a network namespace', () => {
  let webPort = 0;
  let proxyPort = 0;
  let healthPort = 0;
  const curl = (uid: number, ...args: string[]) =>
    inNs(...asUid(uid), 'curl', '-sSf', '--max-time', '5', ...args, `http://${HOST_IP}:${webPort}/`);

  before(async () => {
    const pod = await createVethNetns({
      netns: NS,
      hostIf: `lfh${tag}`,
      nsIf: `lfn${tag}`,
      hostIP: HOST_IP,
      nsIP: NS_IP,
    });
    cleanups.push(() => pod.remove());
    const web = createServer((_q, r) => r.end('outside'));
    await new Promise<void>((r) => web.listen(0, HOST_IP, r));
    cleanups.push(() => web.close());
    webPort = (web.address() as { port: number }).port;
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test('before the fence another uid reaches the outside server directly', async () => {
    const r = await curl(AGENT_UID);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'outside');
  });

  test('after it, only the datapath uid connects out; others only through the proxy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lattice-fence-'));
    cleanups.push(() => cleanupDir(dir));
    chownSync(dir, DATAPATH_UID, DATAPATH_UID);
    const dp = await startDatapath(
      ['--egress-allow', `${HOST_IP}:${webPort}`, '--audit-path', join(dir, 'audit.jsonl')],
      { NODE_COMPILE_CACHE: join(dir, 'cache') },
      ['ip', 'netns', 'exec', NS, ...asUid(DATAPATH_UID)],
    );
    cleanups.push(() => dp.stop());
    proxyPort = dp.proxy.port;
    healthPort = dp.health.port;

    const f = await fence([`--proxy-port=${proxyPort}`, `--health-port=${healthPort}`]);
    assert.equal(f.code, 0, f.stderr);
    assert.match(f.stdout, /"event":"fenced"/);

    const direct = await curl(AGENT_UID);
    assert.notEqual(direct.code, 0, 'the agent uid must not reach the server directly');
    assert.match(direct.stderr, /Couldn't connect|Connection refused|Failed to connect/);

    const viaProxy = await curl(AGENT_UID, '-x', `http://127.0.0.1:${proxyPort}`);
    assert.equal(viaProxy.code, 0, viaProxy.stderr);
    assert.equal(viaProxy.stdout, 'outside');
    const viaSocks = await curl(AGENT_UID, '--socks5', `127.0.0.1:${proxyPort}`);
    assert.equal(viaSocks.code, 0, viaSocks.stderr);

    const health = await inNs(
      ...asUid(AGENT_UID),
      'curl',
      '-sSf',
      '--max-time',
      '5',
      `http://127.0.0.1:${healthPort}/healthz`,
    );
    assert.equal(health.code, 0, health.stderr);

    const own = await curl(DATAPATH_UID);
    assert.equal(own.code, 0, own.stderr);
    assert.equal(own.stdout, 'outside');

    // another loopback port (not the proxy's, not health's) is closed to the agent too
    const other = await inNs(
      ...asUid(AGENT_UID),
      'curl',
      '-sS',
      '--max-time',
      '5',
      `http://127.0.0.1:${proxyPort === 1 ? 2 : 1}/`,
    );
    assert.notEqual(other.code, 0);
  });

  test('running it again leaves one jump and one copy of the rules, for IPv4 and IPv6', async () => {
    const f = await fence([`--proxy-port=${proxyPort}`, `--health-port=${healthPort}`]);
    assert.equal(f.code, 0, f.stderr);
    for (const save of ['iptables-save', 'ip6tables-save']) {
      const s = (await inNs(save, '-t', 'filter')).stdout;
      assert.equal(s.match(/^-A OUTPUT -j LATTICE-FENCE$/gm)?.length, 1, save);
      assert.equal(s.match(/^-A LATTICE-FENCE .*--uid-owner 65532 -j ACCEPT$/gm)?.length, 1, save);
      assert.equal(s.match(/^-A LATTICE-FENCE -p tcp -j REJECT --reject-with tcp-reset$/gm)?.length, 1, save);
    }
    const still = await curl(AGENT_UID);
    assert.notEqual(still.code, 0);
  });

  test('without CAP_NET_ADMIN it fails saying so (exit 69)', async () => {
    const f = await fence([`--proxy-port=${proxyPort}`], asUid(AGENT_UID));
    assert.equal(f.code, 69, f.stderr);
    assert.match(f.stderr, /permission denied — the fence container needs CAP_NET_ADMIN/);
  });

  test('without iptables it fails saying so (exit 69)', async () => {
    const f = await inNs(
      'env',
      'PATH=/nonexistent',
      process.execPath,
      MAIN,
      'sandbox',
      'fence',
      '--datapath-uid=1',
      '--proxy-port=1',
    );
    assert.equal(f.code, 69, f.stderr);
    assert.match(f.stderr, /iptables-restore not found: install the iptables package/);
  });
});
