import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from './file.ts';
import { parseStartFlags, START_FLAGS, startUsage, UsageError } from './flags.ts';
import { ConfigError, resolveSettings, type SettingsPatch } from './settings.ts';

const flags = (...a: string[]) => parseStartFlags(a) as SettingsPatch;

test('the original flags keep their meaning, with defaults', () => {
  const s = resolveSettings(
    flags(
      '--name',
      'agent-001',
      '--egress-allow',
      '10.0.0.0/8,0.0.0.0/0:443',
      '--egress-allow=*.pypi.org:443',
      '--forward',
      '8080:127.0.0.1:8080',
      '--egress-default-deny',
    ),
  );
  assert.equal(s.proxyAddr.port, 1080);
  assert.equal(s.proxyAddr.host, '127.0.0.1');
  assert.deepEqual(s.healthAddr, { host: '0.0.0.0', port: 15021 });
  assert.equal(s.auditPath, '/tmp/lattice-audit-agent-001.jsonl');
  assert.deepEqual(
    s.egress.rules.map((r) => r.text),
    ['allow 10.0.0.0/8', 'allow 0.0.0.0/0:443', 'allow *.pypi.org:443'],
  );
  assert.equal(s.egress.defaultAction, 'deny');
  assert.deepEqual(s.forwards[0], {
    port: 8080,
    targetHost: '127.0.0.1',
    targetPort: 8080,
    allowFrom: [],
    listen: '127.0.0.1',
  });
});

test('bad flags name the flag and the value', () => {
  assert.throws(
    () => flags('--egress-allow', '10.0.0.1/8'),
    (e: Error) =>
      e instanceof ConfigError && e.message.startsWith('--egress-allow:') && e.message.includes('10.0.0.1/8'),
  );
  assert.throws(() => flags('--proxy-addr', 'nope'), /--proxy-addr: expected HOST:PORT \(got "nope"\)/);
  assert.throws(() => flags('--forward', '80:x'), /--forward: expected PORT:HOST:PORT/);
  assert.throws(() => flags('--dial-timeout', 'soon'), /--dial-timeout/);
  assert.throws(() => flags('--bogus'), UsageError);
  assert.throws(() => flags('--name'), /--name needs a value/);
  assert.throws(() => resolveSettings(flags('--name', 'Bad Name')), /--name/);
});

test('every flag is documented in --help', () => {
  const help = startUsage();
  for (const f of START_FLAGS) assert.ok(help.includes(`--${f.name}`), f.name);
});

test('the config file gives the same settings; flags override scalars and add rules', () => {
  const file = parseConfigText(
    `
name: agent-002
proxyAddr: 127.0.0.1:2080
egress:
  defaultAction: Deny
  allow: ["10.0.0.0/8"]
  rules:
    - {host: "*.pypi.org", ports: ["443"], expiresAt: "2030-01-01T00:00:00Z"}
    - {cidr: 169.254.0.0/16, action: Deny}
forwards:
  - {port: 8080, target: "127.0.0.1:9090", allowFrom: ["agent-003", "10.42.0.0/16"]}
limits: {dialTimeout: 3s, maxConnections: 10}
audit: {maxBytes: 1000, maxFiles: 2, failClosed: false}
`,
    'cfg',
  );
  const s = resolveSettings(file, flags('--proxy-addr', '127.0.0.1:3080', '--egress-deny', '10.1.0.0/16'));
  assert.equal(s.name, 'agent-002');
  assert.equal(s.proxyAddr.port, 3080);
  assert.equal(s.dialTimeoutMs, 3000);
  assert.equal(s.maxConnections, 10);
  assert.equal(s.auditFailClosed, false);
  assert.deepEqual(s.forwards[0].allowFrom, ['agent-003', '10.42.0.0/16']);
  assert.equal(s.egress.rules.length, 4);
  assert.throws(() => parseConfigText('egress: {allow: ["nope/99"]}', 'cfg'), /cfg: egress.allow\[0\]/);
  assert.throws(() => parseConfigText('typo: 1', 'cfg'), /cfg: typo: unknown key/);
  assert.throws(() => parseConfigText('[1, 2', 'cfg'), /not valid YAML/);
});

test('flags of the other parts are accepted and handed over; --agent-arg keeps its order', () => {
  const s = resolveSettings(
    flags(
      '--name',
      'a',
      '--mode=gvisor',
      '--agent-rootfs',
      '/r',
      '--agent-binary=/bin/x',
      '--agent-arg=-v',
      '--agent-arg',
      '--port=1',
      '--wg-port',
      '51820',
    ),
  );
  assert.deepEqual(s.extra, {
    mode: 'gvisor',
    'agent-rootfs': '/r',
    'agent-binary': '/bin/x',
    'wg-port': '51820',
  });
  assert.deepEqual(s.agentArgs, ['-v', '--port=1']);
});
