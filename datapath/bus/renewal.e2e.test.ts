// A datapath whose bus credential lives 9 s keeps its bus connection past that: it renews the
// credential at the control plane (signed request), stores it, and reconnects with it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePorts } from '../../e2e/cluster/ports.ts';
import { eventually } from '../../e2e/testing/eventually.ts';
import type { ControlPlane } from '../../operator/controlplane/control-plane.ts';
import { decodeJwt } from '../../operator/controlplane/nats-jwt.ts';
import {
  startTestControlPlane,
  type TestControlPlane,
} from '../../operator/controlplane/testing/control-plane.ts';
import { type Env, sandbox } from '../../operator/controlplane/testing/fixtures.ts';
import { type RunningDatapath, startDatapath } from '../cli/harness.ts';
import { readCredentials } from '../enroll/credentials.ts';

const LIFETIME_MS = 9_000;
let e: Env;
let cp: ControlPlane;
let ns: string;
let t: TestControlPlane;
let dir: string;
let dp: RunningDatapath | undefined;

before(async () => {
  t = await startTestControlPlane('renew', { credentialLifetimeMs: LIFETIME_MS, log: () => {} });
  ({ e, ns, cp } = t);
  dir = mkdtempSync(join(tmpdir(), 'lattice-renew-'));
});

after(async () => {
  await dp?.stop();
  await t?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a short-lived bus credential is renewed before it expires and the datapath stays connected', async () => {
  const s = await sandbox(e, ns, 'renewer');
  const [wg] = await freePorts(1);
  dp = await startDatapath(
    [
      '--name',
      'renewer',
      '--server-url',
      cp.url,
      '--token',
      s.token,
      '--wg-port',
      String(wg),
      '--audit-path',
      join(dir, 'audit.jsonl'),
    ],
    { LATTICE_CONFIG_DIR: dir, LATTICE_NAMESPACE: ns },
  );
  const first = readCredentials(join(dir, 'sandbox-credentials.json'))!;
  const firstExp = decodeJwt(first.bus.jwt).exp! * 1000;
  // Past the first credential's expiry, the datapath still sends heartbeats the server accepts.
  await new Promise((r) => setTimeout(r, firstExp - Date.now() + 2000));
  const renewed = readCredentials(join(dir, 'sandbox-credentials.json'))!;
  assert.notEqual(renewed.bus.jwt, first.bus.jwt, 'a new credential was stored');
  assert.ok(decodeJwt(renewed.bus.jwt).exp! * 1000 > firstExp);
  const st = (await (await fetch(`http://${dp.health.host}:${dp.health.port}/status`)).json()) as {
    enrollment: { credentialRenewals: number };
    bus: { state: string };
  };
  assert.ok(st.enrollment.credentialRenewals >= 1);
  const since = Date.now();
  await eventually(
    'a heartbeat after expiry of the first credential',
    () => ((cp.presence.lastSeen.get(`${ns}/renewer`) ?? 0) > since ? true : undefined),
    15_000,
  );
  assert.equal(st.bus.state, 'connected');
});
