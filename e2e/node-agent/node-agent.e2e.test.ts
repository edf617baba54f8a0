// The e2e node agent on the real control plane: it registers a Ready Node, binds and runs Pods
// as processes in their own network namespaces, with init containers, emptyDirs, Secret env,
// a non-root user, probes and restarts, and cleans everything up when a Pod is deleted.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Cluster, sharedCluster } from '../cluster/index.ts';
import { eventually } from '../testing/eventually.ts';
import { type NodeAgent, reapStaleNodeAgents, startNodeAgent } from './index.ts';

const suffix = randomBytes(3).toString('hex');
const ns = `node-agent-${suffix}`;
const hostData = `/tmp/lattice-node-agent-test-${suffix}/data`;

// A tiny HTTP server: reports what it sees (env from a Secret, its addresses, a file the init
// container wrote into the shared emptyDir, its uid); /ready answers 503 until /ready-on;
// /healthz fails when HEALTHY=no.
const SERVER = `
const http = require('http'), fs = require('fs'), os = require('os');
let ready = false;
http.createServer((q, s) => {
  if (q.url === '/ready') { s.statusCode = ready ? 200 : 503; return s.end(); }
  if (q.url === '/ready-on') { ready = true; return s.end('ok'); }
  if (q.url === '/healthz') { s.statusCode = process.env.HEALTHY === 'no' ? 500 : 200; return s.end(); }
  s.setHeader('content-type', 'application/json');
  s.end(JSON.stringify({
    secret: process.env.SECRET_VALUE,
    podName: process.env.POD_NAME,
    ips: Object.values(os.networkInterfaces()).flat().map((i) => i.address),
    init: fs.readFileSync('${hostData}/init.txt', 'utf8'),
    uid: process.getuid(),
  }));
}).listen(8080);
console.log('listening');
`;

type Seen = { secret: string; podName: string; ips: string[]; init: string; uid: number };

function pod(name: string, extra: { healthy?: boolean; image?: string } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: {
      terminationGracePeriodSeconds: 5,
      securityContext: { runAsUser: 65532, runAsGroup: 65532 },
      volumes: [{ name: 'data', emptyDir: {} }],
      initContainers: [
        {
          name: 'init',
          image: 'node:24',
          command: ['node', '-e', `require('fs').writeFileSync('${hostData}/init.txt', 'from-init')`],
          volumeMounts: [{ name: 'data', mountPath: hostData }],
        },
      ],
      containers: [
        {
          name: 'server',
          image: extra.image ?? 'node:24',
          command: ['node', '-e', SERVER],
          ports: [{ name: 'http', containerPort: 8080 }],
          env: [
            { name: 'SECRET_VALUE', valueFrom: { secretKeyRef: { name: 'app', key: 'value' } } },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'HEALTHY', value: extra.healthy === false ? 'no' : 'yes' },
          ],
          volumeMounts: [{ name: 'data', mountPath: hostData }],
          readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 1 },
          livenessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1, failureThreshold: 2 },
        },
      ],
    },
  };
}

describe('e2e node agent', () => {
  let c: Cluster;
  let agent: NodeAgent;
  const getPod = async (name: string) => {
    const r = await c.kubectl(['get', 'pod', name, '-n', ns, '-o', 'json']);
    return r.code === 0 ? JSON.parse(r.stdout) : undefined;
  };
  const condition = (p: { status?: { conditions?: { type: string; status: string }[] } }, type: string) =>
    p.status?.conditions?.find((x) => x.type === type)?.status;

  before(async () => {
    c = await sharedCluster();
    const create = await c.kubectl(['create', 'namespace', ns]);
    assert.equal(create.code, 0, create.stderr);
    const secret = await c.kubectl([
      'create',
      'secret',
      'generic',
      'app',
      '-n',
      ns,
      '--from-literal=value=s3cret',
    ]);
    assert.equal(secret.code, 0, secret.stderr);
    agent = await startNodeAgent({ kubeconfig: c.adminKubeconfig, namespaces: [ns] });
  });
  after(async () => {
    await agent?.stop();
    await c?.kubectl(['delete', 'namespace', ns, '--wait=false']);
    rmSync(`/tmp/lattice-node-agent-test-${suffix}`, { recursive: true, force: true });
  });

  test('registers a Ready Node with its pod CIDR', async () => {
    const node = JSON.parse((await c.kubectl(['get', 'node', agent.nodeName, '-o', 'json'])).stdout);
    assert.equal(condition(node, 'Ready'), 'True');
    assert.equal(node.spec.podCIDR, agent.podCIDR);
    assert.deepEqual(node.status.addresses[0], { type: 'InternalIP', address: agent.nodeIP });
  });

  test('a Pod runs in its own network namespace with Secret env, init container, emptyDir, non-root user, probes', async () => {
    const apply = await c.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod('web')) });
    assert.equal(apply.code, 0, apply.stderr);
    const running = await eventually(
      'pod web runs',
      async () => {
        const p = await getPod('web');
        return p?.status?.phase === 'Running' && p.status.podIP ? p : undefined;
      },
      60_000,
    );
    assert.equal(running.spec.nodeName, agent.nodeName);
    assert.equal(condition(running, 'Initialized'), 'True');
    const podIP: string = running.status.podIP;
    assert.ok(podIP.startsWith(agent.podCIDR.replace('0/24', '')), `${podIP} in ${agent.podCIDR}`);

    // not ready until the readiness endpoint says so
    const body = await eventually(
      'the server answers on the pod IP',
      async () => {
        try {
          return (await (await fetch(`http://${podIP}:8080/`)).json()) as Seen;
        } catch {
          return undefined;
        }
      },
      30_000,
    );
    assert.equal(condition((await getPod('web'))!, 'Ready'), 'False');
    assert.equal(body.secret, 's3cret');
    assert.equal(body.podName, 'web');
    assert.ok(body.ips.includes(podIP), `the process sees its pod IP: ${body.ips}`);
    assert.ok(
      !body.ips.includes('192.0.2.2') && !body.ips.includes(agent.nodeIP),
      'and not the host addresses',
    );
    assert.equal(body.init, 'from-init');
    assert.equal(body.uid, 65532);
    // the emptyDir is mounted in the pod's own mount namespace, not on the host path
    assert.equal(existsSync(`${hostData}/init.txt`), false);

    await fetch(`http://${podIP}:8080/ready-on`);
    const ready = await eventually(
      'pod web becomes Ready',
      async () => {
        const p = await getPod('web');
        return condition(p, 'Ready') === 'True' ? p : undefined;
      },
      30_000,
    );
    assert.equal(condition(ready, 'ContainersReady'), 'True');
    assert.equal(ready.status.containerStatuses[0].ready, true);
    assert.equal(ready.status.containerStatuses[0].restartCount, 0);
    assert.match(agent.logs(ns, 'web', 'server'), /listening/);
  });

  test('two Pods listen on the same port in their own namespaces', async () => {
    const apply = await c.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod('web2')) });
    assert.equal(apply.code, 0, apply.stderr);
    const ip2 = await eventually(
      'pod web2 has an IP',
      async () => (await getPod('web2'))?.status?.podIP,
      60_000,
    );
    const body = await eventually(
      'web2 answers',
      async () => {
        try {
          return (await (await fetch(`http://${ip2}:8080/`)).json()) as Seen;
        } catch {
          return undefined;
        }
      },
      30_000,
    );
    assert.ok(body.ips.includes(ip2));
    assert.notEqual(ip2, agent.podIP(ns, 'web'));
  });

  test('a failing liveness probe restarts the container', async () => {
    const apply = await c.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify(pod('sick', { healthy: false })),
    });
    assert.equal(apply.code, 0, apply.stderr);
    const restarted = await eventually(
      'sick restarts',
      async () => {
        const p = await getPod('sick');
        return (p?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? p : undefined;
      },
      90_000,
    );
    assert.equal(restarted.status.containerStatuses[0].lastState.terminated.reason, 'LivenessProbeFailed');
  });

  test('an image that maps to no entry point is reported, not run', async () => {
    const apply = await c.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify(pod('unmapped', { image: 'docker.io/library/nginx:1.27' })),
    });
    assert.equal(apply.code, 0, apply.stderr);
    const waiting = await eventually(
      'unmapped reports ImageNotMapped',
      async () => {
        const p = await getPod('unmapped');
        const w = p?.status?.containerStatuses?.[0]?.state?.waiting;
        return w?.reason === 'ImageNotMapped' ? w : undefined;
      },
      60_000,
    );
    assert.match(waiting.message, /nginx/);
  });

  test('deleting a Pod stops its processes, removes its namespace and the Pod object', async () => {
    const podIP = agent.podIP(ns, 'web');
    assert.ok(podIP);
    const nets = JSON.parse(readFileSync(join(agent.stateDir, 'network.json'), 'utf8')) as {
      nets: { netns: string; ip: string }[];
    };
    const netns = nets.nets.find((n) => n.ip === podIP)?.netns;
    assert.ok(netns && execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(netns));
    const del = await c.kubectl(['delete', 'pod', 'web', '-n', ns, '--wait=true', '--timeout=60s']);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(await getPod('web'), undefined);
    await assert.rejects(fetch(`http://${podIP}:8080/`, { signal: AbortSignal.timeout(2000) }));
    assert.ok(!execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(netns));
  });
});

describe('e2e node agent crash', () => {
  test('SIGKILL of the agent kills its containers; the next agent removes its namespaces and bridge', async (t) => {
    const c = await sharedCluster();
    const ns2 = `node-agent-crash-${suffix}`;
    assert.equal((await c.kubectl(['create', 'namespace', ns2])).code, 0);
    t.after(() => c.kubectl(['delete', 'namespace', ns2, '--wait=false']));
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, 'main.ts'), '--kubeconfig', c.adminKubeconfig, '--namespace', ns2],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
    });
    await eventually('the agent registers', async () => (out.includes('\n') ? true : undefined), 60_000);
    const { nodeName } = JSON.parse(out) as { nodeName: string };
    t.after(() => c.kubectl(['delete', 'node', nodeName, '--wait=false']));
    const p = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'victim', namespace: ns2 },
      spec: {
        automountServiceAccountToken: false,
        containers: [
          { name: 'sleep', image: 'node:24', command: ['node', '-e', 'setInterval(() => {}, 1000)'] },
        ],
      },
    };
    assert.equal((await c.kubectl(['apply', '-f', '-'], { input: JSON.stringify(p) })).code, 0);
    const pid = await eventually(
      'victim runs',
      async () => {
        const r = await c.kubectl([
          'get',
          'pod',
          'victim',
          '-n',
          ns2,
          '-o',
          'jsonpath={.status.containerStatuses[0].containerID}',
        ]);
        const m = /^lattice-node-agent:\/\/(\d+)$/.exec(r.stdout);
        return m ? Number(m[1]) : undefined;
      },
      60_000,
    );
    assert.ok(existsSync(`/proc/${pid}`));
    const agentDir = readdirSync(tmpdir())
      .filter((d) => d.startsWith('lattice-node-agent-'))
      .map((d) => join(tmpdir(), d))
      .find((d) => readFileSync(join(d, 'agent.pid'), 'utf8').startsWith(`${child.pid} `));
    assert.ok(agentDir, 'the agent recorded its state dir');
    const net = JSON.parse(readFileSync(join(agentDir, 'network.json'), 'utf8')) as {
      bridge: string;
      nets: { netns: string }[];
    };
    assert.equal(net.nets.length, 1);

    child.kill('SIGKILL');
    await eventually(
      'the container process dies with the agent',
      async () => (existsSync(`/proc/${pid}`) ? undefined : true),
      10_000,
    );
    await reapStaleNodeAgents();
    const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    assert.ok(!netns.includes(net.nets[0].netns), 'the pod network namespace is removed');
    const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
    assert.ok(!links.includes(`${net.bridge}:`), 'the bridge is removed');
    assert.equal(existsSync(agentDir), false);
  });
});
