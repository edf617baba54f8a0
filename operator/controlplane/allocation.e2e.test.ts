// 200 concurrent enrollments across two control-plane processes; one is SIGKILLed in the middle.
// Every sandbox ends with exactly one address, and no address is held twice — uniqueness comes from
// the apiserver's create-or-conflict on claim names, not from any process being the leader.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { freePorts } from '../../e2e/cluster/ports.ts';
import type { EnrollResponse } from './enrollment.ts';
import { KubeStore } from './kube-store.ts';
import { generateTrustSeeds, loadTrust } from './nats-trust.ts';
import {
  controlPlaneKubeConfig,
  deleteNamespace,
  type Env,
  env,
  issueToken,
  namespace,
  postJson,
  sandbox,
  type TestSandbox,
} from './testing/fixtures.ts';
import { type OperatorNats, startOperatorNats } from './testing/operator-nats.ts';

const N = 200;
const seeds = generateTrustSeeds();
let e: Env;
let nats: OperatorNats;
let ns: string;
let cpNs: string;
let dir: string;
let kubeconfig: string;
const procs: ChildProcess[] = [];

async function startReplica(port: number): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(
    process.execPath,
    [
      join(import.meta.dirname, 'main.ts'),
      `--kubeconfig=${kubeconfig}`,
      `--namespace=${cpNs}`,
      '--host=127.0.0.1',
      `--port=${port}`,
      `--nats-url=${nats.url}`,
      `--trust-file=${join(dir, 'trust.json')}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  procs.push(proc);
  let stderr = '';
  proc.stderr?.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`replica did not start: ${stderr}`)), 30_000);
    createInterface({ input: proc.stdout! }).once('line', (l) => {
      clearTimeout(t);
      resolve(JSON.parse(l).listening);
    });
    proc.once('exit', (code) => reject(new Error(`replica exited ${code}: ${stderr}`)));
  });
  return { proc, url };
}

before(async () => {
  e = await env();
  ns = await namespace(e, 'cp-alloc');
  cpNs = await namespace(e, 'cp-alloc-sys');
  kubeconfig = (await controlPlaneKubeConfig(e, cpNs)).path;
  dir = mkdtempSync(join(tmpdir(), 'lattice-cp-alloc-'));
  writeFileSync(join(dir, 'trust.json'), JSON.stringify(seeds), { mode: 0o600 });
  nats = await startOperatorNats(loadTrust(seeds));
});

after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await nats?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (e) await Promise.all([deleteNamespace(e, ns), deleteNamespace(e, cpNs)]);
});

async function inBatches<T, R>(items: T[], size: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

test(`${N} concurrent enrollments over two replicas, one killed mid-way: ${N} distinct addresses, no duplicates`, async () => {
  const sandboxes = await inBatches(
    Array.from({ length: N }, (_, i) => `s${i}`),
    25,
    (name) => sandbox(e, ns, name),
  );
  const [p1, p2] = await freePorts(2);
  const doomed = await startReplica(p1);
  const survivor = await startReplica(p2);
  const wg = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64');

  let done = 0;
  let killedAt = -1;
  const stats = { retriedAfterKill: 0, reissued: 0 };
  const enrollOne = async (s: TestSandbox, i: number): Promise<EnrollResponse> => {
    let url = i % 2 === 0 ? doomed.url : survivor.url;
    let token = s.token;
    for (let attempt = 0; attempt < 6; attempt++) {
      let r: { status: number; json: Record<string, unknown> };
      try {
        r = await postJson(`${url}/api/v1/enroll`, { name: s.name, namespace: ns, token, publicKey: wg() });
      } catch {
        // The replica died under this request: a client (the datapath) retries elsewhere.
        stats.retriedAfterKill++;
        url = survivor.url;
        continue;
      }
      if (r.status === 200) {
        if (++done === N / 4 && killedAt < 0) {
          killedAt = done;
          doomed.proc.kill('SIGKILL');
        }
        return r.json as unknown as EnrollResponse;
      }
      if (r.status === 409 && (r.json.error as { code: string }).code === 'token_used') {
        // The dead replica consumed the token but its answer was lost: the operator issues a new
        // token for a datapath without credentials (self-healing re-enrollment), as here.
        stats.reissued++;
        token = (await issueToken(e, s, 3_600_000)).token;
        url = survivor.url;
        continue;
      }
      assert.fail(`${s.name}: ${r.status} ${JSON.stringify(r.json)}`);
    }
    assert.fail(`${s.name}: no success after retries`);
  };
  const results = await Promise.all(sandboxes.map(enrollOne));
  assert.ok(killedAt > 0, 'a replica was killed during the run');

  const ips = results.map((r) => r.overlayIP);
  assert.equal(new Set(ips).size, N, 'every sandbox got a different address');
  const claims = await new KubeStore(e.kc, cpNs).listClaims();
  const byUid = new Map<string, string[]>();
  for (const c of claims) byUid.set(c.uid, [...(byUid.get(c.uid) ?? []), c.ip]);
  for (const s of sandboxes) {
    const mine = byUid.get(s.uid) ?? [];
    assert.equal(mine.length, 1, `${s.name} holds ${mine.length} claims`);
  }
  assert.equal(claims.length, N, 'no claim left behind by the killed replica');
  assert.ok(claims.every((c) => c.state === 'bound'));
  const final = new Map(claims.map((c) => [c.uid, c.ip]));
  for (let i = 0; i < N; i++) {
    // A re-enrolled sandbox keeps its address, so the last answer always matches its claim.
    assert.equal(final.get(sandboxes[i].uid), results[i].overlayIP, sandboxes[i].name);
  }
  console.log(
    `# ${N} enrollments; replica killed after ${killedAt}; ${stats.retriedAfterKill} retried, ${stats.reissued} re-issued tokens`,
  );
});
