// The real datapath with --config in a kubelet-style projected directory: each new version is
// published by a symlink swap of ..data (as the kubelet does for a downwardAPI volume) and real
// curl through the proxy sees the new policy, with no signal. A bad version is rejected, logged,
// shown in /status, and the policy in force stays (never a silent allow).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { eventually } from '../../e2e/testing/eventually.ts';
import { cleanupDir, run, startDatapath } from '../cli/harness.ts';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('policy follows the projected --config file; a bad version keeps the policy in force', async () => {
  const web = createServer((_q, r) => r.end('hello from web'));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  cleanups.push(() => web.close());
  const port = (web.address() as { port: number }).port;

  const dir = mkdtempSync(join(tmpdir(), 'lattice-spec-'));
  cleanups.push(() => cleanupDir(dir));
  let n = 0;
  const publish = (text: string) => {
    const v = `..2026_11_28_23_00_${String(n++).padStart(2, '0')}`;
    mkdirSync(join(dir, v));
    writeFileSync(join(dir, v, 'config.json'), text);
    symlinkSync(v, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  // what the operator writes (operator/sandbox/pod.ts datapathConfig)
  const doc = (rules: unknown[]) =>
    JSON.stringify({ name: 'w', egress: { defaultAction: 'Deny', rules }, forwards: [] });
  const allowWeb = doc([{ cidr: '127.0.0.1/32', ports: [String(port)] }]);
  publish(allowWeb);
  symlinkSync('..data/config.json', join(dir, 'config.json'));

  const dp = await startDatapath(['--name', 'w', '--config', join(dir, 'config.json')]);
  cleanups.push(async () => {
    await dp.stop();
    cleanupDir(dp.dir);
  });
  const curl = () =>
    run('curl', [
      '-sSf',
      '--max-time',
      '5',
      '-x',
      `http://127.0.0.1:${dp.proxy.port}`,
      `http://127.0.0.1:${port}/`,
    ]);
  const status = async () =>
    (await (await fetch(`http://127.0.0.1:${dp.health.port}/status`)).json()) as {
      egress: {
        rules: string[];
        generation: number;
        lastReload: { ok: boolean; source: string; error?: string } | null;
      };
    };

  const first = await curl();
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, 'hello from web');

  publish(doc([]));
  const denied = await eventually(
    'curl denied after the swap',
    async () => {
      const r = await curl();
      return r.code !== 0 ? r : undefined;
    },
    10_000,
  );
  assert.match(denied.stderr, /403/);
  const afterDeny = await status();
  assert.deepEqual(afterDeny.egress.rules, []);
  assert.equal(afterDeny.egress.lastReload?.ok, true);
  assert.match(afterDeny.egress.lastReload!.source, /\(changed\)/);

  // a version with an allow rule for the web server and a broken rule: nothing of it applies
  publish(doc([{ cidr: '127.0.0.1/32', ports: [String(port)] }, { cidr: '300.1.2.3/8' }]));
  const rejected = await eventually(
    'the bad version rejected',
    async () => {
      const s = await status();
      return s.egress.lastReload?.ok === false ? s : undefined;
    },
    10_000,
  );
  assert.match(rejected.egress.lastReload!.error!, /300\.1\.2\.3/);
  assert.equal(rejected.egress.generation, afterDeny.egress.generation, 'policy not replaced');
  assert.match(dp.stderr(), /policy reload rejected; the previous policy stays/);
  const still = await curl();
  assert.notEqual(still.code, 0, 'the old (deny) policy stays');
  assert.match(still.stderr, /403/);

  // a non-JSON/YAML document too
  publish('{"egress": ');
  await eventually(
    'the unparsable version rejected',
    async () => {
      const s = await status();
      return s.egress.lastReload?.ok === false && /valid/.test(s.egress.lastReload.error ?? '')
        ? s
        : undefined;
    },
    10_000,
  );
  assert.notEqual((await curl()).code, 0);

  publish(allowWeb);
  const back = await eventually(
    'curl allowed again',
    async () => {
      const r = await curl();
      return r.code === 0 ? r : undefined;
    },
    10_000,
  );
  assert.equal(back.stdout, 'hello from web');
  assert.equal(await dp.stop(), 0);
});
