import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { launchScript, mountOrder, quote } from './launch.ts';

test('quoting survives any argument, checked by a real shell', () => {
  const nasty = `it's $(rm -rf /) "x" \\ ; \`id\``;
  assert.equal(execFileSync('sh', ['-c', `printf %s ${quote(nasty)}`], { encoding: 'utf8' }), nasty);
});

test('mounts come first, then the user switch keeps the parent-death signal', () => {
  const s = launchScript({
    mounts: [{ source: '/v/data', target: '/data', readOnly: true }],
    workingDir: '/',
    uid: 65532,
    groups: [65532],
    argv: ['/bin/node', '-e', 'x'],
  });
  assert.deepEqual(s.split('\n'), [
    'set -e',
    "mkdir -p '/data'",
    "mount --bind '/v/data' '/data'",
    "mount -o remount,bind,ro '/data'",
    "cd '/'",
    "exec setpriv --reuid=65532 --regid=65532 --groups=65532 --pdeathsig=keep -- '/bin/node' '-e' 'x'",
  ]);
});

test('without a user the program is exec-ed directly', () => {
  const s = launchScript({ mounts: [], workingDir: '/w', groups: [], argv: ['a b'] });
  assert.equal(s.split('\n').at(-1), "exec 'a b'");
});

test('a volume mounted on /tmp is mounted after the volumes whose sources it would hide', () => {
  const v = (name: string, target: string) => ({
    source: `/tmp/lattice-node-agent-x/pods/p/volumes/${name}`,
    target,
    readOnly: false,
  });
  const order = mountOrder([v('state', '/etc/lattice'), v('tmp', '/tmp'), v('netns', '/run/netns')]);
  assert.deepEqual(
    order.map((m) => m.target),
    ['/etc/lattice', '/run/netns', '/tmp'],
  );
  // a mount on /tmpfoo hides nothing under /tmp; order kept
  const kept = mountOrder([v('a', '/tmpfoo'), v('b', '/b')]);
  assert.deepEqual(
    kept.map((m) => m.target),
    ['/tmpfoo', '/b'],
  );
});

test('the repository is mounted at the image path before any volume, and the argv points there', () => {
  const script = launchScript({
    image: { source: '/tmp/ci/checkout', target: '/run/lattice-e2e-image' },
    mounts: [{ source: '/tmp/agent/vol/tmp', target: '/tmp', readOnly: false }],
    workingDir: '/',
    groups: [],
    argv: [
      '/tmp/ci/checkout/node_modules/node/bin/node',
      '/tmp/ci/checkout/datapath/cli/main.ts',
      '/tmp/ci/checkoutx',
    ],
  });
  const lines = script.split('\n');
  const image = lines.indexOf(`mount --bind '/tmp/ci/checkout' '/run/lattice-e2e-image'`);
  const tmp = lines.indexOf(`mount --bind '/tmp/agent/vol/tmp' '/tmp'`);
  assert.ok(image > 0 && tmp > image, script);
  assert.equal(
    lines.at(-1),
    `exec '/run/lattice-e2e-image/node_modules/node/bin/node' '/run/lattice-e2e-image/datapath/cli/main.ts' '/tmp/ci/checkoutx'`,
  );
});
