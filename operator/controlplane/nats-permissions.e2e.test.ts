// Against a real nats-server in operator mode: what a sandbox credential issued by the control plane
// may and may not do, and that a revocation cuts a connected sandbox off at once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { credsAuthenticator, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { ensureAuditStream } from './bus.ts';
import { issueCredential, newBusKeyPair } from './identity.ts';
import { formatCreds } from './nats-jwt.ts';
import { accountJwt, controlPlaneCreds, generateTrustSeeds, loadTrust, systemCreds } from './nats-trust.ts';
import { AUDIT_STREAM, auditSubject, heartbeatSubject, inboxPrefix, netmapSubject } from './subjects.ts';
import { type OperatorNats, startOperatorNats } from './testing/operator-nats.ts';

const trust = loadTrust(generateTrustSeeds());
const enc = new TextEncoder();
let nats: OperatorNats;
let cp: NatsConnection;
const conns: NatsConnection[] = [];

const A = { namespace: 'team', name: 'a', agentName: 'agent-a' };
const B = { namespace: 'team', name: 'b', agentName: 'agent-b' };

async function sandboxConn(s: typeof A) {
  const keys = newBusKeyPair();
  const cred = issueCredential(trust, s, keys.publicKey, new Date());
  const errors: string[] = [];
  const creds = enc.encode(formatCreds(cred.jwt, keys.seed));
  const nc = await connect({
    servers: nats.url,
    inboxPrefix: inboxPrefix(s),
    maxReconnectAttempts: 0,
    authenticator: credsAuthenticator(creds),
  });
  (async () => {
    for await (const st of nc.status())
      if (st.type === 'error') errors.push(String((st as { error?: Error }).error?.message));
  })().catch(() => {});
  conns.push(nc);
  return { nc, errors, keys, creds };
}

const until = async (cond: () => boolean, ms: number, what: string) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

before(async () => {
  nats = await startOperatorNats(trust);
  cp = await connect({
    servers: nats.url,
    authenticator: credsAuthenticator(enc.encode(controlPlaneCreds(trust, new Date()))),
  });
  await ensureAuditStream(cp);
});

after(async () => {
  for (const c of conns) await c.close().catch(() => {});
  await cp?.close().catch(() => {});
  await nats?.destroy();
});

test('a sandbox receives its own netmap and publishes its own audit records into the stream', async () => {
  const a = await sandboxConn(A);
  const sub = a.nc.subscribe(netmapSubject(A), { max: 1 });
  await a.nc.flush();
  cp.publish(netmapSubject(A), enc.encode('{"type":"netmap"}'));
  for await (const m of sub) assert.equal(m.string(), '{"type":"netmap"}');
  const ack = await jetstream(a.nc).publish(auditSubject(A), enc.encode('{"seq":1}'), { msgID: 'team/a:1' });
  assert.equal(ack.stream, AUDIT_STREAM);
  const dup = await jetstream(a.nc).publish(auditSubject(A), enc.encode('{"seq":1}'), { msgID: 'team/a:1' });
  assert.equal(dup.duplicate, true, 'the same message id is stored once');
  assert.deepEqual(a.errors, []);
});

test("a sandbox cannot subscribe to another sandbox's netmap, nor to everything", async () => {
  const a = await sandboxConn(A);
  for (const subject of [netmapSubject(B), 'lattice.netmap.>', '>', `${inboxPrefix(B)}.x`]) {
    let got = 0;
    const sub = a.nc.subscribe(subject);
    (async () => {
      for await (const _ of sub) got++;
    })().catch(() => {});
    await a.nc.flush();
    cp.publish(subject === '>' || subject.endsWith('>') ? netmapSubject(B) : subject, enc.encode('secret'));
    await cp.flush();
    await until(
      () => a.errors.some((e) => e.includes(`Subscription to "${subject}"`)),
      5000,
      `violation for ${subject}`,
    );
    assert.equal(got, 0, `received on ${subject}`);
  }
});

test('a sandbox cannot publish audit records or heartbeats under another sandbox, nor call the JetStream API', async () => {
  const a = await sandboxConn(A);
  let leaked = 0;
  const spy = cp.subscribe('lattice.>');
  (async () => {
    for await (const m of spy) if (m.subject !== heartbeatSubject(A)) leaked++;
  })().catch(() => {});
  await cp.flush();
  for (const subject of [
    auditSubject(B),
    heartbeatSubject(B),
    '$JS.API.STREAM.DELETE.LATTICE_AUDIT',
    'lattice.audit.team.a.other-agent',
  ]) {
    a.nc.publish(subject, enc.encode('{"forged":true}'));
    await a.nc.flush().catch(() => {});
    await until(
      () => a.errors.some((e) => e.includes(`Publish to "${subject}"`)),
      5000,
      `violation for ${subject}`,
    );
  }
  a.nc.publish(heartbeatSubject(A), enc.encode('{}'));
  await a.nc.flush();
  await cp.flush();
  assert.equal(leaked, 0, 'nothing forged reached any lattice subject');
  const info = await (await (await import('@nats-io/jetstream')).jetstreamManager(cp)).streams.info(
    AUDIT_STREAM,
  );
  assert.ok(info, 'the audit stream still exists');
  spy.unsubscribe();
});

test('revoking a credential disconnects the sandbox at once and it cannot come back', async () => {
  const a = await sandboxConn(A);
  const b = await sandboxConn(B);
  const sys = await connect({
    servers: nats.url,
    authenticator: credsAuthenticator(enc.encode(systemCreds(trust, new Date()))),
  });
  conns.push(sys);
  const now = new Date();
  const jwt = accountJwt(
    trust,
    { [a.keys.publicKey]: Math.floor(now.getTime() / 1000) },
    new Date(now.getTime() + 1000),
  );
  const reply = await sys.request('$SYS.REQ.CLAIMS.UPDATE', enc.encode(jwt), { timeout: 5000 });
  assert.equal(JSON.parse(reply.string()).data.code, 200);
  await until(
    () => a.nc.isClosed() || a.errors.some((e) => /revoked/i.test(e)),
    5000,
    'revoked sandbox to be cut off',
  );
  assert.equal(b.nc.isClosed(), false, 'the other sandbox stays connected');
  await b.nc.flush();
  await assert.rejects(
    connect({ servers: nats.url, maxReconnectAttempts: 0, authenticator: credsAuthenticator(a.creds) }),
    /revoked|authorization/i,
  );
});
