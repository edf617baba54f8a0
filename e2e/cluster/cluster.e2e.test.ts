// Smoke tests of the local control plane: the shared cluster answers, CRDs work end to end through
// kubectl and @kubernetes/client-node, the operator identity is not admin, the controller manager
// garbage-collects, JetStream is on; a private cluster restarts its apiserver with its data, and
// leaves nothing behind when stopped or when the process that started it is killed.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { eventually } from '../testing/eventually.ts';
import { type Cluster, inspectCluster, sharedCluster, startCluster } from './index.ts';
import { portBound } from './ports.ts';
import { startTimeOf } from './proc.ts';

const suffix = randomBytes(4).toString('hex');
const group = `smoke${suffix}.lattice.test`;
const plural = 'widgets';
const crdName = `${plural}.${group}`;
const ns = `smoke-${suffix}`;

function crd(): string {
  return JSON.stringify({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: crdName },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural, singular: 'widget', kind: 'Widget' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
            },
          },
        },
      ],
    },
  });
}

async function ok(c: Cluster, args: string[], input?: string): Promise<string> {
  const r = await c.kubectl(args, { input });
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Opens a watch. Right after a CRD is created, its watch cache is still initializing and the
 *  apiserver answers 429 (a real client retries); retry that, fail on anything else. */
async function watchUntilOpen(
  kc: k8s.KubeConfig,
  path: string,
  onEvent: (phase: string, obj: { metadata?: { name?: string } }) => void,
): Promise<AbortController> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    let failure: unknown;
    // client-node reports a refused watch through the done callback, before watch() resolves
    const controller = await new k8s.Watch(kc).watch(path, {}, onEvent, (err) => {
      if (err && (err as Error).name !== 'AbortError') failure ??= err;
    });
    if (failure === undefined) return controller;
    if ((failure as { statusCode?: number }).statusCode !== 429 || Date.now() > deadline) throw failure;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function nothingLeft(info: { dir: string; pids: number[]; ports: number[] }): Promise<void> {
  await eventually(
    'every cluster process exits',
    () => info.pids.every((p) => startTimeOf(p) === undefined),
    30_000,
  );
  for (const port of info.ports) assert.equal(await portBound(port), false, `port ${port} is still bound`);
  await eventually('the state dir is removed', () => !existsSync(info.dir), 10_000);
}

describe('shared cluster', () => {
  let c: Cluster;
  before(async () => {
    c = await sharedCluster();
    await ok(c, ['create', 'namespace', ns]);
  });
  after(async () => {
    await c.kubectl(['delete', 'namespace', ns, '--wait=false']);
    await c.kubectl(['delete', 'crd', crdName, '--wait=false']);
  });

  test('kubectl get --raw /readyz answers ok', async () => {
    assert.equal((await ok(c, ['get', '--raw', '/readyz'])).trim(), 'ok');
  });

  test('kubectl get ns lists default and kube-system', async () => {
    const names = (await ok(c, ['get', 'ns', '-o', 'name'])).split('\n');
    assert.ok(names.includes('namespace/default'), names.join(','));
    assert.ok(names.includes('namespace/kube-system'), names.join(','));
  });

  test('the apiserver serves TLS on loopback with our CA and denies anonymous requests', async () => {
    assert.match(c.apiServerURL, /^https:\/\/127\.0\.0\.1:\d+$/);
    // without our CA the certificate does not verify
    await assert.rejects(fetch(`${c.apiServerURL}/api/v1/namespaces`));
    // with it, a request without credentials is system:anonymous, whom RBAC denies
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        `${c.apiServerURL}/api/v1/namespaces`,
        { ca: readFileSync(c.caFile) },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 403);
  });

  test('a CRD applied with kubectl becomes Established', async () => {
    await ok(c, ['apply', '-f', '-'], crd());
    await ok(c, ['wait', '--for=condition=Established', '--timeout=60s', `crd/${crdName}`]);
    const cond = await ok(c, [
      'get',
      'crd',
      crdName,
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Established")].status}',
    ]);
    assert.equal(cond, 'True');
  });

  test('a namespaced custom object is created, listed, watched and deleted through client-node', async () => {
    await ok(c, ['apply', '-f', '-'], crd());
    await ok(c, ['wait', '--for=condition=Established', '--timeout=60s', `crd/${crdName}`]);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(c.adminKubeconfig);
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    const seen: string[] = [];
    const stopWatch = await watchUntilOpen(kc, `/apis/${group}/v1/namespaces/${ns}/${plural}`, (phase, obj) =>
      seen.push(`${phase} ${obj.metadata?.name}`),
    );
    try {
      const body = { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } };
      const created = await api.createNamespacedCustomObject({
        group,
        version: 'v1',
        namespace: ns,
        plural,
        body,
      });
      assert.equal(created.metadata.name, 'w1');
      const list = await api.listNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural });
      assert.deepEqual(
        list.items.map((i: { metadata: { name: string }; spec: { size: number } }) => [
          i.metadata.name,
          i.spec.size,
        ]),
        [['w1', 3]],
      );
      await eventually('the watch sees ADDED w1', () => seen.includes('ADDED w1'), 30_000);
      await api.deleteNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural, name: 'w1' });
      await eventually('the watch sees DELETED w1', () => seen.includes('DELETED w1'), 30_000);
      const after = await api.listNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural });
      assert.equal(after.items.length, 0);
    } finally {
      stopWatch.abort();
    }
  });

  test('the operator identity is its ServiceAccount and is not admin (403 without RBAC from config/)', async () => {
    const who = await c.kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], {
      kubeconfig: c.operatorKubeconfig,
    });
    assert.equal(who.stdout, 'system:serviceaccount:lattice-system:lattice-operator', who.stderr);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(c.operatorKubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await assert.rejects(
      core.listNamespacedSecret({ namespace: 'kube-system' }),
      (err: k8s.ApiException<unknown>) => {
        assert.equal(err.code, 403);
        return true;
      },
    );
    const r = await c.kubectl(['get', 'secrets', '-n', 'kube-system'], { kubeconfig: c.operatorKubeconfig });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /forbidden/i);
  });

  test('the controller manager garbage-collects children when their owner is deleted', async () => {
    const owner = JSON.parse(await ok(c, ['create', 'configmap', 'owner', '-n', ns, '-o', 'json']));
    const child = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'child',
        namespace: ns,
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid }],
      },
    };
    await ok(c, ['create', '-f', '-'], JSON.stringify(child));
    await ok(c, ['delete', 'configmap', 'owner', '-n', ns]);
    await eventually(
      'the child ConfigMap is garbage-collected',
      async () => {
        const r = await c.kubectl(['get', 'configmap', 'child', '-n', ns]);
        return r.code !== 0 && /NotFound/.test(r.stderr);
      },
      60_000,
    );
  });

  test('nats-server runs with JetStream on', async () => {
    const nc = await connect({ servers: c.natsURL });
    try {
      const jsm = await jetstreamManager(nc);
      const stream = `SMOKE_${suffix}`;
      await jsm.streams.add({ name: stream, subjects: [`smoke.${suffix}.>`] });
      const js = jsm.jetstream();
      const ack = await js.publish(`smoke.${suffix}.a`, 'hello');
      assert.equal(ack.stream, stream);
      assert.equal(ack.seq, 1);
      await jsm.streams.delete(stream);
    } finally {
      await nc.close();
    }
  });
});

describe('private cluster', () => {
  test('restartApiServer keeps the data and port; stop leaves no process, port or dir', async () => {
    const c = await startCluster({ withNats: false });
    const info = { dir: c.dir, ...inspectCluster(c.dir) };
    try {
      assert.equal(info.pids.length, 4, 'supervisor, etcd, kube-apiserver, kube-controller-manager');
      await ok(c, ['create', 'configmap', 'survivor', '-n', 'default', '--from-literal=k=v']);
      await c.restartApiServer();
      assert.equal((await ok(c, ['get', '--raw', '/readyz'])).trim(), 'ok');
      assert.equal(
        await ok(c, ['get', 'configmap', 'survivor', '-n', 'default', '-o', 'jsonpath={.data.k}']),
        'v',
      );
      info.pids.push(...inspectCluster(c.dir).pids);
    } finally {
      await c.stop();
    }
    await nothingLeft(info);
  });

  test('killing the process that started a cluster (SIGKILL) stops the cluster and frees its ports', async (t) => {
    const child = spawn(
      process.execPath,
      [new URL('./testdata/start-and-hang.ts', import.meta.url).pathname],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
    });
    // an early exit ends the wait (a throw in fn would only be retried until the timeout)
    const outcome = await eventually(
      'the fixture reports its cluster',
      () => (child.exitCode !== null ? 'exited' : out.includes('\n') && 'reported'),
      180_000,
    );
    assert.equal(outcome, 'reported', `the fixture exited with ${child.exitCode}`);
    const info = JSON.parse(out) as { dir: string; pids: number[]; ports: number[] };
    assert.equal(info.pids.length, 4, 'supervisor, etcd, nats-server, kube-apiserver');
    assert.ok(
      info.pids.every((p) => startTimeOf(p) !== undefined),
      'all running before the kill',
    );
    child.kill('SIGKILL');
    await nothingLeft(info);
  });
});

describe('make cluster-up / cluster-down (cli.ts)', () => {
  test('up prints export lines a shell can use, a second up finds the cluster, down leaves nothing', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'lattice-cli-test-'));
    const cli = (args: string[]) =>
      new Promise<{ code: number; stdout: string }>((resolve) => {
        execFile(
          process.execPath,
          [join(import.meta.dirname, 'cli.ts'), ...args, '--dir', dir],
          (err, stdout, stderr) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: stdout + stderr }),
        );
      });
    t.after(async () => {
      await cli(['down']);
      rmSync(dir, { recursive: true, force: true });
    });
    const first = await cli(['up']);
    assert.equal(first.code, 0, first.stdout);
    const lines = first.stdout.trimEnd().split('\n');
    assert.match(lines.at(-2)!, /^export KUBECONFIG=\S+$/);
    assert.match(lines.at(-1)!, /^export PATH=\S+:\$PATH$/);
    // what a person does: evaluate the lines, then use kubectl
    const shell = execFileSync(
      'bash',
      ['-c', `${lines.filter((l) => l.startsWith('export ')).join('\n')}\nkubectl get ns -o name`],
      {
        encoding: 'utf8',
      },
    );
    assert.match(shell, /namespace\/default/);
    assert.match(shell, /namespace\/kube-system/);
    const info = { dir, ...inspectCluster(dir) };

    const second = await cli(['up']);
    assert.equal(second.code, 0, second.stdout);
    assert.match(second.stdout, /already running/);
    assert.deepEqual(second.stdout.trimEnd().split('\n').slice(-2), lines.slice(-2));

    const down = await cli(['down']);
    assert.equal(down.code, 0, down.stdout);
    await nothingLeft(info);
    assert.match((await cli(['down'])).stdout, /no cluster was running/);
  });
});
