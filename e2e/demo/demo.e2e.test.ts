// `make demo` end to end, in its own state dir (its own cluster, node agent, operator and bus; the
// shared cluster of the test run is not touched): `up` returns with every sample sandbox Ready with
// an overlay IP and a connected peer; agent-001's audit, read back from the control plane, has a
// completed fetch of agent-002's forward over the overlay and a denied connection; `down` leaves no
// process of the demo running and removes the state dir.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, globSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { alive, descendants, type ProcId, readPidFile } from '../cluster/proc.ts';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, 'cli.ts');
const dir = mkdtempSync(join(tmpdir(), 'lattice-demo-e2e-'));
const env: NodeJS.ProcessEnv = { ...process.env, LATTICE_DEMO_DIR: dir, LATTICE_DEMO_WAIT_S: '100' };
delete env.LATTICE_CLUSTER_DIR;
delete env.KUBECONFIG;
let downDone = false;

const cli = (cmd: 'up' | 'down', timeout: number) =>
  run(process.execPath, [CLI, cmd], { env, timeout, maxBuffer: 16 << 20 });

after(async () => {
  if (!downDone) await cli('down', 60_000).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

test('make demo: Ready sandboxes talking over the overlay, a denial audited, down leaves nothing', {
  timeout: 180_000,
}, async () => {
  const up = await cli('up', 150_000).catch((e) => {
    throw new Error(`demo up failed: ${e.message}\n${e.stdout ?? ''}`);
  });
  const out = up.stdout;
  const lines = out.trimEnd().split('\n');
  assert.match(lines.at(-1)!, /^export LATTICE_SERVER_URL=http:\/\//, out);
  assert.match(out, /demo: all 3 sandboxes show it after/, out);
  const exported = (name: string) => out.match(new RegExp(`^export ${name}=(.*)$`, 'm'))?.[1] ?? '';
  const kubeconfig = exported('KUBECONFIG');
  const kubectl = join(exported('PATH').replace(/:\$PATH$/, ''), 'kubectl');
  const serverURL = exported('LATTICE_SERVER_URL');
  assert.ok(kubeconfig.startsWith(dir), 'the demo uses its own cluster in its own state dir');

  const { stdout } = await run(kubectl, [
    '--kubeconfig',
    kubeconfig,
    'get',
    'sandboxes',
    '-n',
    'default',
    '-o',
    'json',
  ]);
  type S = {
    metadata: { name: string };
    spec: { mode: string };
    status: {
      overlayIP?: string;
      peers?: { connected: number };
      egress?: { denied: number; allowed: number };
      conditions?: { type: string; status: string }[];
    };
  };
  const items = (JSON.parse(stdout).items as S[]).sort((a, b) =>
    a.metadata.name.localeCompare(b.metadata.name),
  );
  assert.deepEqual(
    items.map((s) => [s.metadata.name, s.spec.mode]),
    [
      ['agent-001', 'Sidecar'],
      ['agent-002', 'Sidecar'],
      ['agent-003', 'GVisor'],
    ],
  );
  for (const s of items) {
    const name = s.metadata.name;
    assert.equal(s.status.conditions?.find((c) => c.type === 'Ready')?.status, 'True', `${name} Ready`);
    assert.match(s.status.overlayIP ?? '', /^10\.42\.\d+\.\d+$/, `${name} overlay IP`);
    assert.ok((s.status.peers?.connected ?? 0) > 0, `${name} has a connected peer`);
    assert.ok((s.status.egress?.denied ?? 0) > 0, `${name} has a denied connection`);
  }
  const ip002 = items[1].status.overlayIP;

  // agent-001's audit, as the control plane serves it from the bus
  type R = {
    event: string;
    decision: string;
    host: string;
    port: number;
    path: string | null;
    rule: string;
    bytesDown: number | null;
  };
  let records: R[] = [];
  const deadline = Date.now() + 30_000;
  const fetched = (r: R) => r.event === 'close' && r.path === 'overlay:agent-002' && (r.bytesDown ?? 0) > 0;
  while (Date.now() < deadline) {
    const res = await fetch(`${serverURL}/api/v1/audit/flow?agentName=agent-001&limit=1000`);
    records = ((await res.json()) as { records: R[] }).records;
    if (records.some(fetched) && records.some((r) => r.decision === 'deny')) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const overlay = records.find(fetched);
  assert.ok(overlay, 'a completed fetch of agent-002 over the overlay');
  assert.equal(overlay.host, ip002);
  assert.equal(overlay.port, 8080);
  const denied = records.find((r) => r.decision === 'deny');
  assert.ok(denied, 'a denied connection');
  assert.equal(denied.host, '169.254.169.254');
  assert.equal(denied.rule, 'deny 169.254.0.0/16');

  // every process of the demo: its pid files (operator, bus, node agent, cluster supervisor and
  // components) and all their descendants (the Pods' processes, runsc's)
  const roots = [...globSync(join(dir, '*.pid')), ...globSync(join(dir, 'cluster', '**', '*.pid'))]
    .map(readPidFile)
    .filter((id): id is ProcId => id !== undefined);
  const procs = roots.flatMap((r) => descendants(r.pid));
  assert.ok(procs.length >= 10, `demo processes found: ${procs.length}`);
  await cli('down', 25_000);
  downDone = true;
  const left = procs.filter(alive);
  assert.deepEqual(left, [], 'no process of the demo is left');
  assert.equal(existsSync(dir), false, 'the state dir is removed');
});
