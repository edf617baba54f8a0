// gVisor mode's pure plan: flags (each error names its flag), names within interface limits, the
// namespace commands, the OCI spec's security settings, the runsc command line.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentNetwork, gvisorSettings, namespaceSetup, ociSpec, runscArgv } from './plan.ts';

const extra = { mode: 'gvisor', 'agent-rootfs': '/r', 'agent-binary': '/bin/agent' };

test('flags: defaults to runsc, uid 65533; each missing or bad flag is named', () => {
  assert.deepEqual(gvisorSettings(extra, ['-v']), {
    rootfs: '/r',
    binary: '/bin/agent',
    args: ['-v'],
    runtime: 'runsc',
    uid: 65533,
  });
  assert.equal(gvisorSettings({ ...extra, 'agent-runtime': 'process' }, []).runtime, 'process');
  assert.throws(() => gvisorSettings({ ...extra, mode: 'gvisr' }, []), /--mode: must be gvisor/);
  assert.throws(() => gvisorSettings({ mode: 'gvisor', 'agent-binary': '/a' }, []), /--agent-rootfs/);
  assert.throws(() => gvisorSettings({ ...extra, 'agent-rootfs': 'rel' }, []), /--agent-rootfs/);
  assert.throws(() => gvisorSettings({ ...extra, 'agent-binary': 'agent' }, []), /--agent-binary/);
  assert.throws(() => gvisorSettings({ ...extra, 'agent-runtime': 'runc' }, []), /--agent-runtime/);
});

test('names fit IFNAMSIZ; the agent has host addresses and default routes only into the TUN', () => {
  const n = agentNetwork('0123abcd');
  assert.ok(n.tun.length <= 15);
  assert.equal(n.netns, 'lattice-agent-0123abcd');
  assert.throws(() => agentNetwork('x; rm'), /8 hex digits/);
  const cmds = namespaceSetup(n).map((c) => c.join(' '));
  for (const c of cmds) assert.ok(c.startsWith(`ip netns exec ${n.netns} `), c);
  assert.ok(cmds.some((c) => c.endsWith(`ip addr add 169.254.77.2/32 dev ${n.tun}`)));
  assert.ok(cmds.some((c) => c.endsWith(`ip route add default dev ${n.tun}`)));
  assert.ok(cmds.some((c) => c.endsWith(`ip -6 route add default dev ${n.tun}`)));
  // nothing but the TUN and loopback is configured
  assert.equal(cmds.filter((c) => / dev (?!lt0123abcd)/.test(c)).length, 0);
});

test('the OCI spec: read-only root, non-root, no capabilities, no new privileges, our env, no netns', () => {
  const s = ociSpec(gvisorSettings(extra, ['a', 'b']), 'agent') as {
    process: {
      user: { uid: number };
      args: string[];
      env: string[];
      capabilities: Record<string, string[]>;
      noNewPrivileges: boolean;
    };
    root: { path: string; readonly: boolean };
    linux: { namespaces: { type: string }[] };
    mounts: { destination: string }[];
  };
  assert.deepEqual(s.root, { path: '/r', readonly: true });
  assert.equal(s.process.user.uid, 65533);
  assert.deepEqual(s.process.args, ['/bin/agent', 'a', 'b']);
  for (const set of Object.values(s.process.capabilities)) assert.deepEqual(set, []);
  assert.equal(s.process.noNewPrivileges, true);
  assert.ok(!s.process.env.some((e) => /TOKEN|LATTICE/.test(e)));
  assert.ok(!s.linux.namespaces.some((x) => x.type === 'network'));
  assert.ok(!s.mounts.some((m) => m.destination.startsWith('/etc/lattice')));
  assert.deepEqual(runscArgv('/s', '/b', 'id'), [
    'runsc',
    '--network=host',
    '--ignore-cgroups',
    '--root=/s',
    'run',
    '--bundle=/b',
    'id',
  ]);
});
