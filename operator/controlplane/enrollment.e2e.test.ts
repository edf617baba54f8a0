// Enrollment against the real kube-apiserver and a real operator-mode nats-server: distinct
// addresses, netmaps over NATS, token misuse, the one-token race, and revocation within 5 s.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { credsAuthenticator, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { ControlPlane } from './control-plane.ts';
import type { EnrollResponse } from './enrollment.ts';
import { contains, parsePool } from './ip-pool.ts';
import { formatCreds } from './nats-jwt.ts';
import type { Netmap } from './netmap.ts';
import { startTestControlPlane, type TestControlPlane } from './testing/control-plane.ts';
import { type Env, issueToken, postJson, sandbox } from './testing/fixtures.ts';
import type { OperatorNats } from './testing/operator-nats.ts';
import { generateToken } from './token.ts';
import { ANNOTATION } from './token-secret.ts';

let t: TestControlPlane;
const wgKey = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64');
let e: Env;
let nats: OperatorNats;
let cp: ControlPlane;
let ns: string;
const logs: string[] = [];
const conns: NatsConnection[] = [];

before(async () => {
  t = await startTestControlPlane('cp-e2e', {
    netmapIntervalMs: 300,
    log: (level, msg, fields) => logs.push(JSON.stringify({ level, msg, ...fields })),
  });
  ({ e, ns, nats, cp } = t);
});

after(async () => {
  if (process.env.CP_DEBUG) console.log(logs.join('\n'));
  for (const c of conns) await c.close().catch(() => {});
  await t?.stop();
});

const enrollURL = () => `${cp.url}/api/v1/enroll`;

async function busConn(r: EnrollResponse): Promise<NatsConnection> {
  assert.ok(r.credential.seed, 'the control plane made the bus key pair');
  const nc = await connect({
    servers: r.bus.url,
    inboxPrefix: r.bus.inboxPrefix,
    authenticator: credsAuthenticator(
      new TextEncoder().encode(formatCreds(r.credential.jwt, r.credential.seed!)),
    ),
  });
  conns.push(nc);
  return nc;
}

/** Collects netmaps arriving on a connection; `wait` resolves when one satisfies the predicate. */
function watchNetmaps(nc: NatsConnection, subject: string) {
  const seen: (Netmap | { type: string })[] = [];
  const sub = nc.subscribe(subject);
  (async () => {
    for await (const m of sub) seen.push(m.json());
  })().catch(() => {});
  return {
    seen,
    async wait(pred: (m: Netmap | { type: string }) => boolean, ms: number, what: string) {
      const end = Date.now() + ms;
      for (;;) {
        const hit = seen.find(pred);
        if (hit) return hit;
        if (Date.now() > end)
          assert.fail(`no netmap ${what} within ${ms} ms; saw ${JSON.stringify(seen.slice(-3))}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

test('two sandboxes enroll with distinct addresses, the token is consumed, and they see each other in their netmaps', async () => {
  const a = await sandbox(e, ns, 'alpha');
  const b = await sandbox(e, ns, 'beta');
  const ra = await postJson(enrollURL(), {
    name: 'alpha',
    namespace: ns,
    token: a.token,
    publicKey: wgKey(),
  });
  const rb = await postJson(enrollURL(), { name: 'beta', namespace: ns, token: b.token, publicKey: wgKey() });
  assert.equal(ra.status, 200, JSON.stringify(ra.json));
  assert.equal(rb.status, 200, JSON.stringify(rb.json));
  const A = ra.json as unknown as EnrollResponse;
  const B = rb.json as unknown as EnrollResponse;
  assert.notEqual(A.overlayIP, B.overlayIP);
  for (const r of [A, B]) {
    assert.ok(contains(parsePool('10.42.0.0/16'), r.overlayIP), r.overlayIP);
    assert.equal(r.networkCIDR, '10.42.0.0/16');
    assert.equal(r.bus.url, nats.url);
    assert.match(r.credential.jwt, /^ey/);
  }
  const secret = await e.core.readNamespacedSecret({ namespace: ns, name: 'alpha-enrollment' });
  assert.equal(secret.data?.token, undefined, 'the token is removed from the Secret');
  assert.ok(secret.metadata?.annotations?.[ANNOTATION.consumedAt]);
  const obj = (await e.custom.getNamespacedCustomObject({
    group: 'lattice.io',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'latticesandboxes',
    name: 'alpha',
  })) as { status?: { overlayIP?: string; enrollment?: { consumedAt?: string } } };
  assert.equal(obj.status?.overlayIP, A.overlayIP);
  assert.ok(obj.status?.enrollment?.consumedAt);

  const ncA = await busConn(A);
  const ncB = await busConn(B);
  const na = watchNetmaps(ncA, A.bus.subjects.netmap);
  const nb = watchNetmaps(ncB, B.bus.subjects.netmap);
  await Promise.all([ncA.flush(), ncB.flush()]);
  // What a datapath does on (re)connect: a heartbeat asking for its current netmap.
  ncA.publish(A.bus.subjects.heartbeat, JSON.stringify({ needNetmap: true }));
  ncB.publish(B.bus.subjects.heartbeat, JSON.stringify({ needNetmap: true }));
  const mapA = (await na.wait(
    (m) => m.type === 'netmap' && (m as Netmap).peers.some((p) => p.name === 'beta'),
    5000,
    'of alpha with beta',
  )) as Netmap;
  await nb.wait(
    (m) => m.type === 'netmap' && (m as Netmap).peers.some((p) => p.name === 'alpha'),
    5000,
    'of beta with alpha',
  );
  const peer = mapA.peers.find((p) => p.name === 'beta')!;
  assert.equal(peer.overlayIP, B.overlayIP);
  assert.deepEqual(peer.allowedIPs, [`${B.overlayIP}/32`]);
  assert.equal(mapA.self.overlayIP, A.overlayIP);

  // Heartbeats become status.bus.lastSeen (written by the leader, throttled).
  assert.ok((await cp.writePresence()) >= 1);
  const seen = (await e.custom.getNamespacedCustomObject({
    group: 'lattice.io',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'latticesandboxes',
    name: 'alpha',
  })) as { status?: { bus?: { lastSeen?: string } } };
  assert.ok(
    Date.now() - Date.parse(seen.status?.bus?.lastSeen ?? '') < 60_000,
    `lastSeen ${seen.status?.bus?.lastSeen}`,
  );
  assert.equal(await cp.writePresence(), 0, 'nothing new, nothing written');

  // Deleting beta (what the finalizer does through IdentityRevoker) reaches alpha within 5 s.
  const t0 = Date.now();
  await cp.revoke({ namespace: ns, name: 'beta', uid: b.uid, agentName: 'beta' });
  await na.wait(
    (m) => m.type === 'netmap' && !(m as Netmap).peers.some((p) => p.name === 'beta') && seenAfter(m, t0),
    5000,
    'of alpha without beta',
  );
  await nb.wait((m) => m.type === 'revoked', 5000, 'revocation for beta');
  const claims = await cp.store.listClaims(b.uid);
  assert.equal(claims.length, 0, "beta's address is released");
});

const seenAfter = (m: object, t: number) => ((m as { version?: number }).version ?? 0) >= t;

test('token misuse is refused with a clear 4xx and never logged with the token', async () => {
  const c = await sandbox(e, ns, 'gamma');
  const d = await sandbox(e, ns, 'delta');
  const exp = await sandbox(e, ns, 'epsilon', 1000, {});
  await issueToken(e, exp, 1000, new Date(Date.now() - 10_000)); // issued 10 s ago, valid 1 s
  const expToken = ((await e.core.readNamespacedSecret({ namespace: ns, name: 'epsilon-enrollment' })).data
    ?.token ?? '') as string;
  const expired = Buffer.from(expToken, 'base64').toString();
  const body = (name: string, token: unknown) => ({ name, namespace: ns, token, publicKey: wgKey() });
  const ok = await postJson(enrollURL(), body('gamma', c.token));
  assert.equal(ok.status, 200);
  const cases: [string, unknown, number, string][] = [
    ['gamma', c.token, 409, 'token_used'],
    ['epsilon', expired, 410, 'token_expired'],
    ['delta', c.token, 401, 'invalid_token'], // gamma's token for delta
    ['delta', generateToken(), 401, 'invalid_token'],
    ['delta', 'lt-nothex', 400, 'malformed_token'],
    ['nosuch', d.token, 404, 'sandbox_not_found'],
  ];
  for (const [name, token, status, code] of cases) {
    const r = await postJson(enrollURL(), body(name, token));
    assert.equal(r.status, status, `${name}: ${JSON.stringify(r.json)}`);
    const err = r.json.error as { code: string; message: string };
    assert.equal(err.code, code);
    assert.ok(err.message.length > 10, 'a reason a person can read');
  }
  const all = logs.join('\n');
  for (const t of [c.token, d.token, expired]) assert.ok(!all.includes(t), 'a token value reached the log');
  assert.ok(
    logs.some((l) => l.includes('"code":"token_used"') && l.includes('"name":"gamma"')),
    'misuse is logged',
  );
  // The refused attempts did not consume delta's token.
  assert.equal((await postJson(enrollURL(), body('delta', d.token))).status, 200);
});

test('20 concurrent requests with one token: exactly one succeeds, one address stays claimed', async () => {
  const s = await sandbox(e, ns, 'racer');
  const results = await Promise.all(
    Array.from({ length: 20 }, () =>
      postJson(enrollURL(), { name: 'racer', namespace: ns, token: s.token, publicKey: wgKey() }),
    ),
  );
  const codes = results.map((r) => r.status);
  assert.equal(codes.filter((c) => c === 200).length, 1, `codes: ${codes.join(',')}`);
  assert.ok(
    codes.every((c) => c === 200 || c === 409),
    `codes: ${codes.join(',')}`,
  );
  const claims = await cp.store.listClaims(s.uid);
  assert.equal(claims.length, 1, 'losers released their claims');
  assert.equal(
    claims[0].ip,
    (results.find((r) => r.status === 200)!.json as unknown as EnrollResponse).overlayIP,
  );
});

test('request limits and errors: 413, 415, 400 bad JSON, 405, 404, all JSON', async () => {
  const big = await fetch(enrollURL(), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: 'x'.repeat(20_000),
  });
  assert.equal(big.status, 413);
  assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'request_too_large');
  const text = await fetch(enrollURL(), {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: '{}',
  });
  assert.equal(text.status, 415);
  await text.body?.cancel();
  const bad = await fetch(enrollURL(), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"name":',
  });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'invalid_json');
  const get = await fetch(enrollURL());
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  await get.body?.cancel();
  const none = await fetch(`${cp.url}/api/v2/nothing`);
  assert.equal(none.status, 404);
  assert.match(none.headers.get('content-type') ?? '', /application\/json/);
  await none.body?.cancel();
  const sig = (await (await fetch(`${cp.url}/api/v1/signaling`)).json()) as {
    bus: { url: string };
    networkCIDR: string;
  };
  assert.equal(sig.bus.url, nats.url);
  const metrics = await (await fetch(`${cp.url}/metrics`)).text();
  assert.match(metrics, /lattice_controlplane_requests_total\{route="\/api\/v1\/enroll",code="413"\} 1/);
});
