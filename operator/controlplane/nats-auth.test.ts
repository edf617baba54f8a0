import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import { decodeJwt, formatCreds, JwtError, type UserClaims } from './nats-jwt.ts';
import { accountJwt, generateTrustSeeds, loadTrust, serverConfig, userJwt } from './nats-trust.ts';
import {
  auditFilter,
  auditSubject,
  heartbeatSubject,
  inboxPrefix,
  netmapSubject,
  sandboxPermissions,
  subjectToken,
} from './subjects.ts';

const trust = loadTrust(generateTrustSeeds());
const now = new Date('2026-01-01T00:00:00Z');

test('a user JWT is signed by the account and carries exactly the given permissions', () => {
  const u = createUser();
  const s = { namespace: 'team', name: 'a', agentName: 'bot' };
  const jwt = userJwt(
    trust.account,
    {
      name: 'team/a',
      userPublicKey: u.getPublicKey(),
      ...sandboxPermissions(s),
      expiresAt: new Date('2026-02-01T00:00:00Z'),
    },
    now,
  );
  const c = decodeJwt<UserClaims>(jwt, trust.account.getPublicKey());
  assert.equal(c.sub, u.getPublicKey());
  assert.equal(c.iat, Math.floor(now.getTime() / 1000));
  assert.equal(c.exp, Math.floor(Date.parse('2026-02-01T00:00:00Z') / 1000));
  assert.deepEqual(c.nats.pub.allow, ['lattice.audit.team.a.bot', 'lattice.heartbeat.team.a']);
  assert.deepEqual(c.nats.sub.allow, ['lattice.netmap.team.a', '_INBOX.lattice.team.a.>']);
  assert.match(c.jti ?? '', /^[A-Z2-7]{52}$/);
});

test('a tampered or foreign JWT does not verify', () => {
  const u = createUser();
  const jwt = userJwt(trust.account, { name: 'x', userPublicKey: u.getPublicKey(), pub: {}, sub: {} }, now);
  const [h, p, s] = jwt.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  claims.nats.pub = { allow: ['>'] };
  const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
  assert.throws(() => decodeJwt(forged), JwtError);
  assert.throws(() => decodeJwt(jwt, trust.operator.getPublicKey()), /unexpected issuer/);
  assert.throws(() => decodeJwt('a.b'), /three/);
  assert.throws(() => decodeJwt('e30.e30.e30'), JwtError);
});

test('the account JWT carries revocations and JetStream limits', () => {
  const c = decodeJwt(accountJwt(trust, { UABC: 1767225600 }, now), trust.operator.getPublicKey());
  assert.equal(c.nats.type, 'account');
  if (c.nats.type !== 'account') return;
  assert.deepEqual(c.nats.revocations, { UABC: 1767225600 });
  assert.equal(c.nats.limits.disk_storage, -1);
  const none = decodeJwt(accountJwt(trust, {}, now));
  assert.ok(none.nats.type === 'account' && none.nats.revocations === undefined);
});

test('subjects are per sandbox, dots in names cannot cross token boundaries', () => {
  const s = { namespace: 'ns', name: 'web.v2', agentName: 'agent' };
  assert.equal(netmapSubject(s), 'lattice.netmap.ns.web_v2');
  assert.equal(heartbeatSubject(s), 'lattice.heartbeat.ns.web_v2');
  assert.equal(auditSubject(s), 'lattice.audit.ns.web_v2.agent');
  assert.equal(inboxPrefix(s), '_INBOX.lattice.ns.web_v2');
  assert.equal(auditFilter('agent'), 'lattice.audit.*.*.agent');
  assert.equal(auditFilter('agent', 'ns'), 'lattice.audit.ns.*.agent');
  for (const bad of ['*', '>', 'a b', 'A', '', 'a..b'.replace('..', '.*.')])
    assert.throws(() => subjectToken(bad), /not a Kubernetes name/);
});

test('two sandboxes never share a permitted subject', () => {
  const a = sandboxPermissions({ namespace: 'ns', name: 'a', agentName: 'a' });
  const b = sandboxPermissions({ namespace: 'ns', name: 'b', agentName: 'a' });
  const all = (p: typeof a) => [...(p.pub.allow ?? []), ...(p.sub.allow ?? [])];
  for (const s of all(a)) assert.ok(!all(b).includes(s), s);
  for (const s of all(a))
    assert.ok(!s.includes('*') || s.endsWith('.>'), `only the own inbox may be a wildcard: ${s}`);
});

test('server config trusts the operator and preloads both accounts; creds have the standard shape', () => {
  const conf = serverConfig(
    trust,
    { host: '127.0.0.1', port: 4222, storeDir: '/tmp/js', resolverDir: '/tmp/jwt' },
    now,
  );
  assert.match(conf, /^operator: "ey/m);
  assert.ok(conf.includes(`system_account: "${trust.systemAccount.getPublicKey()}"`));
  assert.ok(conf.includes(`${trust.account.getPublicKey()}: "ey`));
  assert.match(conf, /resolver: \{ type: full/);
  const creds = formatCreds('JWT', 'SUSEED');
  assert.match(creds, /-----BEGIN NATS USER JWT-----\nJWT\n------END NATS USER JWT------/);
  assert.match(creds, /-----BEGIN USER NKEY SEED-----\nSUSEED\n------END USER NKEY SEED------/);
});
