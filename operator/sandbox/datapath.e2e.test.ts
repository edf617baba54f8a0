// The operator with the real datapath (`lattice sandbox start`, datapath/cli/main.ts) standing in
// for the Pod: there is no kubelet, so this test does the kubelet's part — it starts the datapath
// with the flags from the datapath container the operator wrote into the Pod (adapted only where a
// Pod would differ from this host: loopback addresses, no control plane to enroll at, temp paths),
// writes the Pod's `lattice.io/datapath-config` annotation to the --config file as the downwardAPI
// volume would, and marks the Pod ready. Then the operator's status must show what the real
// datapath reports, including a connection it denied (made with curl through its proxy).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { Cluster } from '../../e2e/cluster/index.ts';
import { freePorts } from '../../e2e/cluster/ports.ts';
import type { LatticeSandbox } from '../api/v1alpha1/types.gen.ts';
import { startOperator } from '../operator.ts';
import type { KubeClient } from '../runtime/kube.ts';
import { silentLogger } from '../runtime/log.ts';
import type { Manager } from '../runtime/manager.ts';
import { adminClient, cluster, eventually, must, namespace, ROOT, sandboxYAML } from '../testing/harness.ts';

let c: Cluster;
let ns: { name: string; remove(): Promise<void> };
let op: Manager;
let admin: KubeClient;
let dir: string;
let datapath: ChildProcess | undefined;
let proxyAddr = '';
let healthPort = 0;
const NAME = 'real';

before(async () => {
  c = await cluster();
  ns = await namespace(c, 'dp');
  admin = adminClient(c);
  dir = mkdtempSync(join(tmpdir(), 'lattice-dp-'));
  [healthPort] = await freePorts(1);
  op = await startOperator({
    kubeconfig: c.operatorKubeconfig,
    namespace: ns.name,
    serverURL: 'http://127.0.0.1:1',
    pollIntervalMs: 300,
    log: silentLogger,
  });
});

after(async () => {
  datapath?.kill('SIGKILL');
  await op?.stop();
  admin?.close();
  await ns?.remove();
  rmSync(dir, { recursive: true, force: true });
});

const getPod = () => admin.request<V1Pod>('GET', `/api/v1/namespaces/${ns.name}/pods/${NAME}`);
const getSandbox = () =>
  admin.request<LatticeSandbox>(
    'GET',
    `/apis/lattice.io/v1alpha1/namespaces/${ns.name}/latticesandboxes/${NAME}`,
  );
const cond = (s: LatticeSandbox, t: string) => s.status?.conditions?.find((x) => x.type === t);
const spec = (rules: unknown[]) => ({ agent: { image: 'a' }, datapath: { healthPort }, egress: { rules } });
const configFile = () => join(dir, 'config.json');

/** What the kubelet's downwardAPI volume does: the annotation becomes the file. */
function project(pod: V1Pod) {
  writeFileSync(configFile(), pod.metadata!.annotations!['lattice.io/datapath-config'], { mode: 0o600 });
}

/** The Pod's datapath args, changed only where this host differs from a Pod. */
function hostArgs(pod: V1Pod): string[] {
  const dp = pod.spec!.initContainers!.find((x) => x.name === 'datapath')!;
  return dp
    .args!.filter((a) => !a.startsWith('--server-url=') && !a.startsWith('--token='))
    .map((a) => {
      if (a.startsWith('--proxy-addr=')) return '--proxy-addr=127.0.0.1:0';
      if (a.startsWith('--health-addr=')) return `--health-addr=127.0.0.1:${healthPort}`;
      if (a.startsWith('--config=')) return `--config=${configFile()}`;
      if (a.startsWith('--audit-path=')) return `--audit-path=${join(dir, 'audit.jsonl')}`;
      return a;
    });
}

test('the real datapath runs from the Pod the operator wrote, and its /status becomes the sandbox status', async () => {
  await must(c, ['apply', '-f', '-'], sandboxYAML(NAME, ns.name, spec([{ cidr: '10.0.0.0/8' }])));
  const pod = await eventually('the Pod', () => getPod().catch(() => undefined));
  project(pod);
  const args = hostArgs(pod);
  assert.deepEqual(args.slice(0, 3), ['sandbox', 'start', `--name=${NAME}`]);
  datapath = spawn(process.execPath, [join(ROOT, 'datapath/cli/main.ts'), ...args.slice(0)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  datapath.stderr!.setEncoding('utf8').on('data', (d) => {
    stderr += d;
  });
  proxyAddr = await new Promise<string>((resolve, reject) => {
    let out = '';
    datapath!.stdout!.setEncoding('utf8').on('data', (d) => {
      out += d;
      const m = /"event":"ready".*?"proxy":"([^"]+)"/.exec(out);
      if (m) resolve(m[1]);
    });
    datapath!.once('exit', (code) => reject(new Error(`datapath exited ${code}: ${stderr.slice(-2000)}`)));
  });

  await admin.request('PATCH', `/api/v1/namespaces/${ns.name}/pods/${NAME}/status`, {
    contentType: 'application/merge-patch+json',
    body: {
      status: {
        phase: 'Running',
        podIP: '127.0.0.1',
        podIPs: [{ ip: '127.0.0.1' }],
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          },
        ],
      },
    },
  });
  const sb = await eventually('the datapath is read', async () => {
    const s = await getSandbox();
    return s.status?.datapath?.reachable === true && cond(s, 'EgressEnforced')?.status === 'True' && s;
  });
  assert.equal(cond(sb, 'EgressEnforced')!.reason, 'Cooperative');
  assert.equal(cond(sb, 'PodReady')!.status, 'True');
  // Standalone (no control plane in this test): honestly not enrolled, so not Ready.
  assert.equal(cond(sb, 'Enrolled')!.status, 'False');
  assert.equal(cond(sb, 'Ready')!.status, 'False');
  assert.equal(sb.status!.audit!.healthy, true);
  assert.deepEqual(sb.status!.egress, { allowed: 0, denied: 0, recentDenials: [] });

  // A connection the policy denies (default deny; never dialed), made by curl through the proxy.
  const r = spawnSync(
    'curl',
    ['-sS', '--max-time', '5', '-x', `socks5h://${proxyAddr}`, 'http://127.0.0.1:9/'],
    {
      encoding: 'utf8',
    },
  );
  assert.notEqual(r.status, 0, 'curl was refused');
  const denied = await eventually('the denial in status', async () => {
    const s = await getSandbox();
    return (s.status?.egress?.denied ?? 0) >= 1 && s;
  });
  assert.ok(denied.status!.egress!.recentDenials!.length >= 1);
  // The DENIED printer column, read at the header's offset (empty columns collapse on split).
  const [header, line] = (await must(c, ['get', 'sandboxes', '-n', ns.name, NAME])).split('\n');
  const at = header.indexOf('DENIED');
  assert.equal(line.slice(at).split(/\s+/)[0], '1', `${header}\n${line}`);
});

test('an egress change reaches the running datapath through the config annotation, without a new Pod', async () => {
  const before = await getPod();
  await must(
    c,
    ['apply', '-f', '-'],
    sandboxYAML(NAME, ns.name, spec([{ cidr: '10.0.0.0/8' }, { host: '*.pypi.org', ports: ['443'] }])),
  );
  const pod = await eventually('the new config annotation', async () => {
    const p = await getPod();
    return p.metadata!.annotations!['lattice.io/datapath-config'].includes('pypi') && p;
  });
  assert.equal(pod.metadata!.uid, before.metadata!.uid);
  project(pod);
  // The kubelet rewrites the file; the datapath reloads its --config on SIGHUP.
  datapath!.kill('SIGHUP');
  await eventually('the datapath runs the new policy', async () => {
    const doc = await fetchJSON(`http://127.0.0.1:${healthPort}/status`);
    return (doc.egress as { rules: string[] }).rules.includes('allow *.pypi.org:443');
  });
  const sb = await eventually('status for generation 2', async () => {
    const s = await getSandbox();
    return s.status?.observedGeneration === 2 && s;
  });
  assert.match(cond(sb, 'EgressEnforced')!.message, /2 egress rules, default Deny/);
});

function fetchJSON(url: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve(JSON.parse(body)));
      })
      .on('error', reject);
  });
}
