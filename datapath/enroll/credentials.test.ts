import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  configDir,
  credentialsPath,
  readCredentials,
  type SandboxCredentials,
  writeCredentials,
} from './credentials.ts';
import { podNamespace } from './identity.ts';
import { presentToken } from './part.ts';

const dir = mkdtempSync(join(tmpdir(), 'lattice-creds-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const sample: SandboxCredentials = {
  v: 1,
  name: 'agent-1',
  namespace: 'team',
  sandbox: 'agent-1',
  uid: 'uid-1',
  serverUrl: 'http://127.0.0.1:8080',
  overlayIP: '10.42.0.7',
  networkCIDR: '10.42.0.0/16',
  wireguard: { privateKey: 'priv', publicKey: 'pub' },
  bus: {
    url: 'nats://127.0.0.1:4222',
    jwt: 'eyJ',
    seed: 'SUA',
    publicKey: 'UA',
    expiresAt: '2026-12-01T00:00:00Z',
    inboxPrefix: '_INBOX.lattice.team.agent-1',
    subjects: { netmap: 'n', audit: 'a', heartbeat: 'h' },
    auditStream: 'LATTICE_AUDIT',
  },
  enrolledAt: '2026-11-01T00:00:00Z',
};

test('credentials live in $LATTICE_CONFIG_DIR, default /etc/lattice', () => {
  assert.equal(configDir({}), '/etc/lattice');
  assert.equal(configDir({ LATTICE_CONFIG_DIR: '/x' }), '/x');
  assert.equal(credentialsPath('/x'), '/x/sandbox-credentials.json');
});

test('written atomically with mode 0600 and read back; no temp file left', () => {
  const p = join(dir, 'sandbox-credentials.json');
  assert.equal(readCredentials(p), null, 'none yet');
  writeCredentials(p, sample);
  assert.equal(statSync(p).mode & 0o777, 0o600);
  assert.deepEqual(readCredentials(p), sample);
  writeCredentials(p, { ...sample, overlayIP: '10.42.0.8' });
  assert.equal(readCredentials(p)?.overlayIP, '10.42.0.8');
  assert.deepEqual(readdirSync(dir), ['sandbox-credentials.json']);
});

test('an exposed, corrupt or foreign file is refused with a reason', () => {
  const p = join(dir, 'bad.json');
  writeFileSync(p, JSON.stringify(sample), { mode: 0o644 });
  chmodSync(p, 0o644);
  assert.throws(() => readCredentials(p), /readable by group or others/);
  chmodSync(p, 0o600);
  writeFileSync(p, '{not json');
  assert.throws(() => readCredentials(p), /not valid JSON/);
  writeFileSync(p, JSON.stringify({ ...sample, bus: { ...sample.bus, jwt: '' } }));
  assert.throws(() => readCredentials(p), /fields missing/);
  assert.throws(() => writeCredentials(join(dir, 'x.json'), { ...sample, overlayIP: '' }), /fields missing/);
});

test('the namespace comes from the environment, else the service-account file', () => {
  assert.equal(
    podNamespace({ LATTICE_NAMESPACE: 'a', POD_NAMESPACE: 'b' }, () => 'c'),
    'a',
  );
  assert.equal(
    podNamespace({ POD_NAMESPACE: 'b' }, () => 'c'),
    'b',
  );
  assert.equal(
    podNamespace({}, () => 'c\n'),
    'c',
  );
  assert.equal(
    podNamespace({}, () => {
      throw new Error('ENOENT');
    }),
    null,
  );
});

test('an unexpanded $(LATTICE_TOKEN) (the Secret key is gone) counts as no token', () => {
  assert.equal(presentToken('$(LATTICE_TOKEN)'), null);
  assert.equal(presentToken(''), null);
  assert.equal(presentToken(null), null);
  assert.equal(presentToken(`lt-${'a'.repeat(32)}`), `lt-${'a'.repeat(32)}`);
});
