// Real datapath processes enrolled at a real control plane (real kube-apiserver, operator-mode
// nats-server): the overlay between two sandboxes through their forwards, removal of a deleted peer
// within 5 s, restart from credentials, re-enrollment of a Pod that lost them, and a 30 s NATS outage
// after which the audit query returns every record exactly once.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { credsAuthenticator } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { freePorts } from '../../e2e/cluster/ports.ts';
import { eventually } from '../../e2e/testing/eventually.ts';
import type { ControlPlane } from '../../operator/controlplane/control-plane.ts';
import { formatCreds } from '../../operator/controlplane/nats-jwt.ts';
import {
  startTestControlPlane,
  type TestControlPlane,
} from '../../operator/controlplane/testing/control-plane.ts';
import {
  type Env,
  issueToken,
  sandbox,
  type TestSandbox,
} from '../../operator/controlplane/testing/fixtures.ts';
import type { OperatorNats } from '../../operator/controlplane/testing/operator-nats.ts';
import { ANNOTATION } from '../../operator/controlplane/token-secret.ts';
import { type RunningDatapath, startDatapath } from '../cli/harness.ts';
import { readCredentials } from './credentials.ts';

const run = promisify(execFile);
let e: Env;
let nats: OperatorNats;
let cp: ControlPlane;
let ns: string;
let t: TestControlPlane;
let web: Server;
let webPort: number;
const dirs: string[] = [];
const dps: RunningDatapath[] = [];

before(async () => {
  t = await startTestControlPlane('dp-e2e', {
    netmapIntervalMs: 300,
    // Errors reach the test output, so a failure here says what the control plane saw.
    log: (level, msg, fields) => {
      if (level === 'error') console.log(`# control plane: ${msg} ${JSON.stringify(fields ?? {})}`);
    },
  });
  ({ e, ns, nats, cp } = t);
  web = createServer((req, res) => res.end(`hello from ${req.headers.host}`));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  webPort = (web.address() as AddressInfo).port;
});

after(async () => {
  for (const d of dps) await d.stop().catch(() => {});
  await t?.stop();
  web?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The sandbox's Pod as the node would report it: pod IP 127.0.0.1 (all datapaths run on this host). */
async function pod(name: string) {
  await e.core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: `${name}-pod`, labels: { 'lattice.io/sandbox': name } },
      spec: { containers: [{ name: 'agent', image: 'agent:test' }] },
    },
  });
  // Replace the status on the object as read: a status update with bare metadata drops the labels.
  const current = await e.core.readNamespacedPod({ namespace: ns, name: `${name}-pod` });
  current.status = { phase: 'Running', podIP: '127.0.0.1', podIPs: [{ ip: '127.0.0.1' }] };
  await e.core.replaceNamespacedPodStatus({ namespace: ns, name: `${name}-pod`, body: current });
}

interface Started {
  dp: RunningDatapath;
  configDir: string;
  auditPath: string;
}

async function startEnrolled(
  s: { name: string },
  opts: { token?: string; configDir?: string; auditPath?: string; wgPort: number; extra?: string[] },
): Promise<Started> {
  const configDir = opts.configDir ?? mkdtempSync(join(tmpdir(), 'lattice-dp-cfg-'));
  if (!opts.configDir) dirs.push(configDir);
  const auditPath = opts.auditPath ?? join(configDir, `audit-${s.name}.jsonl`);
  const dp = await startDatapath(
    [
      '--name',
      s.name,
      '--server-url',
      cp.url,
      ...(opts.token ? ['--token', opts.token] : []),
      '--wg-port',
      String(opts.wgPort),
      '--audit-path',
      auditPath,
      '--egress-allow',
      '10.42.0.0/16,127.0.0.1/32',
      ...(opts.extra ?? []),
    ],
    { LATTICE_CONFIG_DIR: configDir, LATTICE_NAMESPACE: ns },
  );
  dps.push(dp);
  return { dp, configDir, auditPath };
}

/** The parts of the datapath's /status this test reads (sections of the enrollment part). */
interface DatapathStatus {
  enrollment: { state: string; overlayIP: string; publicKey: string };
  overlay: { peers: unknown[] };
  bus: { state: string; audit: { acknowledgedSeq: number | null } };
  ready: { ready: boolean };
}

async function status(dp: RunningDatapath): Promise<DatapathStatus> {
  const r = await fetch(`http://${dp.health.host}:${dp.health.port}/status`);
  return (await r.json()) as DatapathStatus;
}

async function curlVia(dp: RunningDatapath, url: string): Promise<{ code: number; body: string }> {
  try {
    const { stdout } = await run('curl', [
      '-s',
      '--max-time',
      '10',
      '-x',
      `socks5h://${dp.proxy.host}:${dp.proxy.port}`,
      url,
    ]);
    return { code: 0, body: stdout };
  } catch (err) {
    return { code: (err as { code?: number }).code ?? -1, body: '' };
  }
}

let A: TestSandbox;
let B: TestSandbox;
let a: Started;
let b: Started;
let wgA: number;

test('two enrolled datapaths reach each other through the overlay; a deleted peer is gone from the netmap within 5 s', async () => {
  A = await sandbox(e, ns, 'alpha');
  B = await sandbox(e, ns, 'beta');
  await Promise.all([pod('alpha'), pod('beta')]);
  const [pA, pB, fwd] = await freePorts(3);
  wgA = pA;
  a = await startEnrolled(A, { token: A.token, wgPort: pA });
  b = await startEnrolled(B, {
    token: B.token,
    wgPort: pB,
    extra: ['--forward', `${fwd}:127.0.0.1:${webPort}`],
  });
  const sa = await status(a.dp);
  const sb = await status(b.dp);
  assert.equal(sa.enrollment.state, 'enrolled');
  assert.notEqual(sa.enrollment.overlayIP, sb.enrollment.overlayIP);
  const credA = readCredentials(join(a.configDir, 'sandbox-credentials.json'))!;
  assert.equal(credA.overlayIP, sa.enrollment.overlayIP);

  await eventually(
    'alpha to get beta in its netmap',
    async () => ((await status(a.dp)).overlay.peers.length === 1 ? true : undefined),
    10_000,
  );
  const res = await eventually(
    "alpha to reach beta's forward over the overlay",
    async () => {
      const r = await curlVia(a.dp, `http://${sb.enrollment.overlayIP}:${fwd}/`);
      return r.body.startsWith('hello from') ? r : undefined;
    },
    20_000,
  );
  assert.match(res.body, new RegExp(`hello from ${sb.enrollment.overlayIP.replaceAll('.', '\\.')}:${fwd}`));
  // The close record (written when curl's connection ends) names the path the connection took.
  await eventually(
    'an audit record naming the overlay peer',
    () => (readFileSync(a.auditPath, 'utf8').includes('"path":"overlay:beta"') ? true : undefined),
    5000,
  );

  const t0 = Date.now();
  await cp.revoke({ namespace: ns, name: 'beta', uid: B.uid, agentName: 'beta' });
  await eventually(
    'beta removed from alpha within 5 s',
    async () => ((await status(a.dp)).overlay.peers.length === 0 ? true : undefined),
    5000,
  );
  const took = Date.now() - t0;
  assert.ok(took <= 5000, `took ${took} ms`);
  const sbAfter = await eventually(
    'beta to learn it was revoked',
    async () => {
      const s = await status(b.dp);
      return s.enrollment.state === 'revoked' || s.enrollment.state === 'rejected' ? s : undefined;
    },
    10_000,
  );
  assert.equal(sbAfter.ready.ready, false, 'a revoked datapath is not ready');
  console.log(`# peer removal reached the other datapath in ${took} ms`);
});

test('a restarted datapath resumes from its credentials without a token; a Pod without credentials re-enrolls', async () => {
  const before = readCredentials(join(a.configDir, 'sandbox-credentials.json'))!;
  await a.dp.stop();
  const resumed = await startEnrolled(A, { configDir: a.configDir, auditPath: a.auditPath, wgPort: wgA });
  const s = await status(resumed.dp);
  assert.equal(s.enrollment.state, 'resumed');
  assert.equal(s.enrollment.overlayIP, before.overlayIP);
  const secret = await e.core.readNamespacedSecret({ namespace: ns, name: 'alpha-enrollment' });
  assert.equal(secret.data?.token, undefined, 'no token was needed');
  assert.equal(secret.metadata?.annotations?.[ANNOTATION.consumedAt] !== undefined, true);
  await resumed.dp.stop();

  // The Pod comes back without its emptyDir: the operator issued a new token; the old identity goes.
  const fresh = await issueToken(e, A, 3_600_000);
  const again = await startEnrolled(A, { token: fresh.token, wgPort: wgA });
  const s2 = await status(again.dp);
  assert.equal(s2.enrollment.state, 'enrolled');
  assert.equal(s2.enrollment.overlayIP, before.overlayIP, 'the sandbox keeps its address');
  assert.notEqual(s2.enrollment.publicKey, before.wireguard.publicKey, 'with a new WireGuard key');
  await assert.rejects(
    connect({
      servers: nats.url,
      maxReconnectAttempts: 0,
      authenticator: credsAuthenticator(
        new TextEncoder().encode(formatCreds(before.bus.jwt, before.bus.seed)),
      ),
    }),
    /revoked|authorization/i,
    'the previous bus credential is revoked',
  );
  a = { ...a, dp: again.dp, configDir: again.configDir, auditPath: again.auditPath };
});

test('NATS stopped for 30 s while traffic flows: proxying goes on, and afterwards every record is queryable exactly once', async () => {
  const dp = a.dp;
  const url = `http://127.0.0.1:${webPort}/`;
  let sent = 0;
  const traffic = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const r = await curlVia(dp, url);
      assert.match(r.body, /hello from/);
      sent++;
    }
  };
  await traffic(5);
  await nats.stop();
  const outageEnd = Date.now() + 30_000;
  while (Date.now() < outageEnd) {
    await traffic(1);
    await new Promise((r) => setTimeout(r, 500));
  }
  const down = await status(dp);
  assert.notEqual(down.bus.state, 'connected', 'the datapath noticed the outage');
  await nats.start();
  await traffic(5);
  const files = readdirSync(join(a.auditPath, '..')).filter(
    (f) => f.startsWith('audit-alpha.jsonl') && !f.includes('cursor'),
  );
  const local = files.flatMap((f) =>
    readFileSync(join(a.auditPath, '..', f), 'utf8')
      .split('\n')
      .filter((l) => l !== ''),
  );
  const localSeqs = local.map((l) => JSON.parse(l).seq as number);
  const last = Math.max(...localSeqs);
  await eventually(
    'the streamer to catch up',
    async () => (((await status(dp)).bus.audit.acknowledgedSeq ?? 0) >= last ? true : undefined),
    30_000,
  );

  // Records are identified by their hash: alpha's earlier runs (before the re-enrollment) wrote
  // another chain whose sequence numbers also start at 1, and those records are in the stream too.
  const seen = new Map<string, number>();
  let cursor: string | null = null;
  let pages = 0;
  do {
    const q = new URLSearchParams({ agentName: 'alpha', namespace: ns, limit: '25' });
    if (cursor) q.set('cursor', cursor);
    // Right after the bus returns, the control plane's own connection may still be reconnecting:
    // the API says 503 bus_unavailable (retryable), never a 500.
    const body = await eventually(
      'the audit query to answer',
      async () => {
        const r = await fetch(`${cp.url}/api/v1/audit/flow?${q}`);
        const text = await r.text();
        if (r.status === 503) {
          assert.match(text, /bus_unavailable/);
          return undefined;
        }
        assert.equal(r.status, 200, text);
        return text;
      },
      30_000,
    );
    const page = JSON.parse(body) as { records: { seq: number; hash: string }[]; nextCursor: string | null };
    assert.ok(page.records.length <= 25);
    for (const rec of page.records) seen.set(rec.hash, (seen.get(rec.hash) ?? 0) + 1);
    cursor = page.nextCursor;
    pages++;
  } while (cursor && pages < 1000);
  for (const [hash, n] of seen) assert.equal(n, 1, `record ${hash} returned ${n} times`);
  const expected = local.map((l) => JSON.parse(l) as { seq: number; hash: string });
  for (const rec of expected)
    assert.equal(seen.get(rec.hash), 1, `local record seq ${rec.seq} missing from the query`);
  assert.ok(sent >= 30, `traffic flowed during the outage (${sent} requests)`);
  console.log(
    `# ${expected.length} records of the current audit file all returned once; ${seen.size} records in ${pages} pages; ${sent} requests, 30 s outage`,
  );
});
