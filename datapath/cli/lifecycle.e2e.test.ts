// The real `lattice` process: health endpoints, dial timeout, audit fail-closed, run-time policy
// replacement (admin endpoint and SIGHUP) closing connections the new policy forbids, forwards with
// allowFrom, the connection limit, SIGTERM drain and the second signal, bad flags at start.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { eventually } from '../../e2e/testing/eventually.ts';
import { cleanupDir, readAudit, run, socks5Connect, startDatapath, tcpServer } from './harness.ts';

const MAIN = new URL('./main.ts', import.meta.url).pathname;
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** An echo server on a free loopback port. */
async function echo() {
  const e = await tcpServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  cleanups.push(() => e.server.close());
  return e.port;
}

async function started(args: string[], env: Record<string, string> = {}) {
  const dp = await startDatapath(args, env);
  cleanups.push(async () => {
    await dp.stop();
    cleanupDir(dp.dir);
  });
  return dp;
}

/** The first close record in the datapath's audit log, once it is written. */
const closeRecord = (dp: { auditPath: string }) =>
  eventually('a close record', () => readAudit(dp.auditPath).find((r) => r.event === 'close'), 5000);

/** Waits for a socket to be closed by the other side. */
const closedBy = (s: Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

async function roundTrip(s: Socket, text: string): Promise<string> {
  s.write(text);
  return new Promise((resolve) => {
    let got = '';
    const on = (d: Buffer) => {
      got += d;
      if (got.length >= text.length) {
        s.removeListener('data', on);
        resolve(got);
      }
    };
    s.on('data', on);
  });
}

describe('health port', () => {
  test('/healthz, /readyz, /status and /metrics', async () => {
    const port = await echo();
    const dp = await started(['--egress-allow', `127.0.0.1:${port}`]);
    const base = `http://127.0.0.1:${dp.health.port}`;
    assert.equal(await (await fetch(`${base}/healthz`)).text(), 'ok\n');
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    const c = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port });
    assert.equal(await roundTrip(c.sock, 'ping'), 'ping');
    const status = (await (await fetch(`${base}/status`)).json()) as Record<string, Record<string, unknown>>;
    assert.equal(status.sandbox.name, 'test');
    assert.equal(status.sandbox.mode, 'standalone');
    assert.equal(status.proxy.activeConnections, 1);
    assert.deepEqual(status.egress.rules, [`allow 127.0.0.1/32:${port}`]);
    assert.equal(status.audit.healthy, true);
    c.sock.destroy();
    const denied = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port: port + 1 });
    denied.sock.destroy();
    const after = (await (await fetch(`${base}/status`)).json()) as {
      egress: {
        allowed: number;
        denied: number;
        recentDenials: { dst: string; rule: string; count: number }[];
      };
    };
    assert.equal(after.egress.allowed, 1);
    assert.equal(after.egress.denied, 1);
    assert.deepEqual(
      after.egress.recentDenials.map((d) => [d.dst, d.rule, d.count]),
      [[`127.0.0.1:${port + 1}`, 'default', 1]],
    );
    const metrics = await eventually(
      'the bytes and the close record in /metrics',
      async () => {
        // (the close record is written within FLUSH_AFTER_MS of the close that counts the bytes)
        const m = await (await fetch(`${base}/metrics`)).text();
        return /lattice_bytes_total\{direction="up"\} 4/.test(m) && /lattice_audit_records_total 3/.test(m)
          ? m
          : undefined;
      },
      5000,
    );
    assert.match(
      metrics,
      new RegExp(
        `lattice_connections_total\\{decision="allow",rule="allow 127.0.0.1/32:${port}",proto="socks5"\\} 1`,
      ),
    );
    assert.match(metrics, /lattice_connections_total\{decision="deny",rule="default",proto="socks5"\} 1/);
    assert.match(metrics, /lattice_dial_duration_seconds_bucket/);
    assert.match(metrics, /lattice_audit_records_total 3/);
    assert.equal(
      (await fetch(`${base}/admin/config`, { method: 'POST', body: '{}' })).status,
      404,
      'admin is off without a token',
    );
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  });
});

/** A listener whose process never accepts: once its accept queue is full the kernel drops SYNs, so dials to it hang. */
async function blackHole(): Promise<number> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>{console.log(s.address().port);setTimeout(()=>Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0),50)})",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  cleanups.push(() => child.kill('SIGKILL'));
  const port = Number(
    await new Promise<string>((r) => child.stdout!.once('data', (d) => r(String(d).trim()))),
  );
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < 4; i++) {
    const f = createConnection(port, '127.0.0.1');
    f.on('error', () => {});
    cleanups.push(() => f.destroy());
  }
  await new Promise((r) => setTimeout(r, 200));
  return port;
}

test('dial timeout: 0x06, close record reason timeout', async () => {
  const port = await blackHole();
  const dp = await started(['--egress-allow', `127.0.0.1:${port}`, '--dial-timeout', '1s']);
  const { code, sock } = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port });
  sock.destroy();
  assert.equal(code, 0x06);
  const rec = await closeRecord(dp);
  assert.equal(rec.reason, 'timeout');
  assert.equal(rec.reply, 6);
});

test('audit fail-closed: an unwritable audit file refuses connections and health says so; fail-open keeps serving', async () => {
  const port = await echo();
  const dp = await started(['--egress-allow', `127.0.0.1:${port}`, '--audit-path', '/dev/full']);
  const { code, sock } = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port });
  sock.destroy();
  assert.equal(code, 0x01);
  const ready = await fetch(`http://127.0.0.1:${dp.health.port}/readyz`);
  assert.equal(ready.status, 503);
  const body = (await ready.json()) as { checks: { audit: { detail: string } } };
  assert.match(body.checks.audit.detail, /ENOSPC/);
  const status = (await (await fetch(`http://127.0.0.1:${dp.health.port}/status`)).json()) as {
    audit: { healthy: boolean; writeErrors: number };
  };
  assert.equal(status.audit.healthy, false);
  assert.ok(status.audit.writeErrors >= 1);
  assert.equal(dp.proc.exitCode, null, 'still running');
  const open = await started([
    '--egress-allow',
    `127.0.0.1:${port}`,
    '--audit-path',
    '/dev/full',
    '--audit-fail-open',
  ]);
  const o = await socks5Connect(open.proxy, { atyp: 'ipv4', host: '127.0.0.1', port });
  assert.equal(o.code, 0);
  o.sock.destroy();
});

test('audit fail-closed once the file fails mid-run: the connection whose record cannot be written moves no byte, the next is refused', async () => {
  // A 64 KiB tmpfs for the audit file: it takes the first records, then is filled up.
  const dir = mkdtempSync(join(tmpdir(), 'lattice-auditfs-'));
  await run('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', dir]);
  cleanups.push(async () => {
    await run('umount', ['-l', dir]);
    cleanupDir(dir);
  });
  const received: number[] = [];
  const sink = await tcpServer((s) => {
    const i = received.push(0) - 1;
    s.on('error', () => {});
    s.on('data', (d) => {
      received[i] += d.length;
      s.write(d);
    });
    s.on('end', () => s.end());
  });
  cleanups.push(() => sink.server.close());
  const dp = await started([
    '--egress-allow',
    `127.0.0.1:${sink.port}`,
    '--audit-path',
    join(dir, 'audit.jsonl'),
  ]);
  const first = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port: sink.port });
  assert.equal(first.code, 0);
  assert.equal(await roundTrip(first.sock, 'one'), 'one');
  first.sock.destroy();
  await closeRecord({ auditPath: join(dir, 'audit.jsonl') }); // nothing left waiting to be written
  try {
    writeFileSync(join(dir, 'filler'), Buffer.alloc(128 * 1024));
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
  }
  // The file's last page still takes a few records. Connections held open write only their decision
  // records, each after its success reply: the first that cannot be written must end before the
  // relay reads a byte, and the one after it is refused before it is dialed.
  const held: Socket[] = [];
  cleanups.push(() => {
    for (const h of held) h.destroy();
  });
  let failedAt = -1;
  for (let i = 0; i < 50 && failedAt < 0; i++) {
    const c = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port: sink.port });
    assert.equal(c.code, 0, `connection ${i} while the file still takes records`);
    c.sock.on('error', () => {});
    held.push(c.sock);
    c.sock.write('x');
    const outcome = await Promise.race([
      new Promise<string>((r) => c.sock.once('data', () => r('relayed'))),
      new Promise<string>((r) => c.sock.once('close', () => r('closed'))),
    ]);
    if (outcome === 'closed') failedAt = received.length;
  }
  assert.ok(failedAt > 1, 'a decision record failed to be written');
  assert.equal(received.length, failedAt, 'the failed one was dialed');
  assert.equal(received[failedAt - 1], 0, 'no byte of it reached the destination');
  const refused = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port: sink.port });
  refused.sock.destroy();
  assert.equal(refused.code, 0x01, 'refused before dialing once the file is known to fail');
  assert.equal(received.length, failedAt, 'and never dialed');
  const ready = await fetch(`http://127.0.0.1:${dp.health.port}/readyz`);
  assert.equal(ready.status, 503);
  const metrics = await (await fetch(`http://127.0.0.1:${dp.health.port}/metrics`)).text();
  assert.match(metrics, /lattice_rejected_connections_total\{reason="audit-unavailable"\} 2/);
  const status = (await (await fetch(`http://127.0.0.1:${dp.health.port}/status`)).json()) as {
    audit: { lastError: string };
  };
  assert.match(status.audit.lastError, /ENOSPC/);
});

describe('policy replaced at run time', () => {
  test('admin endpoint: bearer token required; a new policy closes connections it forbids and is audited', async () => {
    const a = await echo();
    const b = await echo();
    const dir = mkdtempSync(join(tmpdir(), 'lattice-admin-'));
    cleanups.push(() => cleanupDir(dir));
    const token = 'test-admin-token-0123456789';
    writeFileSync(join(dir, 'token'), `${token}\n`, { mode: 0o600 });
    const dp = await started([
      '--egress-allow',
      `127.0.0.1:${a}`,
      '--egress-allow',
      `127.0.0.1:${b}`,
      '--admin-token-file',
      join(dir, 'token'),
    ]);
    const ca = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port: a });
    const cb = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port: b });
    assert.equal(ca.code, 0);
    assert.equal(cb.code, 0);
    assert.equal(await roundTrip(ca.sock, 'a1'), 'a1');
    const url = `http://127.0.0.1:${dp.health.port}/admin/config`;
    assert.equal((await fetch(url, { method: 'POST', body: '{}' })).status, 401);
    assert.equal(
      (
        await fetch(url, {
          method: 'POST',
          body: '{}',
          headers: { authorization: 'Bearer wrong-token-wrong-token' },
        })
      ).status,
      401,
    );
    const bad = await fetch(url, {
      method: 'POST',
      body: 'egress: {allow: ["10.0.0.1/8"]}',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /10\.0\.0\.1\/8/);
    assert.equal(await roundTrip(ca.sock, 'a2'), 'a2', 'a rejected document leaves the old policy in force');
    // New document: deny port a explicitly. Flag rules (allow b) stay; the document's rules are added.
    const ok = await fetch(url, {
      method: 'POST',
      body: JSON.stringify({ egress: { deny: [`127.0.0.1:${a}`] } }),
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(ok.status, 200, await ok.clone().text());
    await closedBy(ca.sock);
    assert.equal(await roundTrip(cb.sock, 'b1'), 'b1', 'connections the new policy allows stay open');
    const rec = await eventually(
      'the close record of the revoked connection',
      () => readAudit(dp.auditPath).find((r) => r.event === 'close' && r.port === a),
      5000,
    );
    assert.equal(rec.reason, 'policy-revoked');
    const again = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port: a });
    again.sock.destroy();
    assert.equal(again.code, 0x02);
    cb.sock.destroy();
  });

  test('SIGHUP re-reads --config', async () => {
    const a = await echo();
    const dir = mkdtempSync(join(tmpdir(), 'lattice-hup-'));
    cleanups.push(() => cleanupDir(dir));
    const cfg = join(dir, 'cfg.yaml');
    writeFileSync(cfg, `egress:\n  allow: ["127.0.0.1:${a}"]\n`);
    const dp = await started(['--config', cfg]);
    const c = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port: a });
    assert.equal(c.code, 0);
    writeFileSync(cfg, 'egress:\n  allow: []\n');
    dp.proc.kill('SIGHUP');
    await closedBy(c.sock);
    const status = (await (await fetch(`http://127.0.0.1:${dp.health.port}/status`)).json()) as {
      egress: { reloads: number; rules: string[] };
    };
    // (the file watcher may apply the same change a moment later: at least one reload, by SIGHUP)
    assert.ok(status.egress.reloads >= 1);
    assert.deepEqual(status.egress.rules, []);
    await eventually(
      'the SIGHUP reload in the log',
      () => /"msg":"policy replaced","source":"config file [^"]+ \(SIGHUP\)"/.test(dp.stderr()),
      5000,
    );
  });
});

test('a config file updated the way the kubelet updates a projected volume is applied without a signal', async () => {
  const port = await echo();
  const dir = mkdtempSync(join(tmpdir(), 'lattice-proj-'));
  cleanups.push(() => cleanupDir(dir));
  // kubelet layout: config.json -> ..data/config.json, ..data -> ..<timestamp>/ swapped atomically
  const version = (n: number, doc: unknown) => {
    mkdirSync(join(dir, `..v${n}`));
    writeFileSync(join(dir, `..v${n}`, 'config.json'), JSON.stringify(doc));
    symlinkSync(`..v${n}`, join(dir, `..data_tmp`));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  version(1, { egress: { rules: [{ cidr: '127.0.0.1/32', ports: [String(port)] }] } });
  symlinkSync('..data/config.json', join(dir, 'config.json'));
  const dp = await started(['--config', join(dir, 'config.json')]);
  const c = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port });
  assert.equal(c.code, 0);
  version(2, { egress: { defaultAction: 'Deny', rules: [] } });
  await closedBy(c.sock);
  const rec = await closeRecord(dp);
  assert.equal(rec.reason, 'policy-revoked');
  const status = (await (await fetch(`http://127.0.0.1:${dp.health.port}/status`)).json()) as {
    egress: { rules: string[]; lastReload: { source: string } };
  };
  assert.deepEqual(status.egress.rules, []);
  assert.match(status.egress.lastReload.source, /changed/);
});

test('an idle relayed connection is closed after --idle-timeout and audited as idle-timeout', async () => {
  const port = await echo();
  const dp = await started(['--egress-allow', `127.0.0.1:${port}`, '--idle-timeout', '400ms']);
  const c = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port });
  // a byte every 150 ms for three times the idle timeout keeps it open
  for (let i = 0; i < 8; i++) {
    assert.equal(await roundTrip(c.sock, 'x'), 'x');
    await new Promise((r) => setTimeout(r, 150));
  }
  assert.equal(c.sock.destroyed, false, 'a connection moving bytes is not idle');
  await closedBy(c.sock);
  const rec = await closeRecord(dp);
  assert.equal(rec.reason, 'idle-timeout');
  assert.equal(rec.bytesUp, 8);
});

test('a rule that expires closes the connections it allowed, as policy-revoked', async () => {
  const port = await echo();
  const dir = mkdtempSync(join(tmpdir(), 'lattice-exp-'));
  cleanups.push(() => cleanupDir(dir));
  const cfg = join(dir, 'cfg.json');
  writeFileSync(cfg, '{}');
  const dp = await started(['--config', cfg]);
  // the expiring rule arrives once the datapath runs (SIGHUP), so a slow start cannot eat its lifetime
  const expiresAt = new Date(Date.now() + 2500).toISOString();
  writeFileSync(
    cfg,
    JSON.stringify({ egress: { rules: [{ cidr: '127.0.0.1/32', ports: [String(port)], expiresAt }] } }),
  );
  dp.proc.kill('SIGHUP');
  await eventually(
    'a policy reload',
    async () => {
      const st = (await (await fetch(`http://127.0.0.1:${dp.health.port}/status`)).json()) as {
        egress: { reloads: number };
      };
      return st.egress.reloads >= 1 ? true : undefined;
    },
    5000,
  );
  const c = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port });
  assert.equal(c.code, 0);
  await closedBy(c.sock);
  const rec = await closeRecord(dp);
  assert.equal(rec.reason, 'policy-revoked');
  const again = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port });
  again.sock.destroy();
  assert.equal(again.code, 0x02);
});

test('forwards: allowFrom admits matching peers, others are refused; both audited as ingress', async () => {
  const target = await echo();
  const dir = mkdtempSync(join(tmpdir(), 'lattice-fwd-'));
  cleanups.push(() => cleanupDir(dir));
  const p1 = (await tcpServer(() => {})).server;
  const p2 = (await tcpServer(() => {})).server;
  const port1 = (p1.address() as { port: number }).port;
  const port2 = (p2.address() as { port: number }).port;
  await new Promise((r) => p1.close(r));
  await new Promise((r) => p2.close(r));
  writeFileSync(
    join(dir, 'cfg.yaml'),
    `forwards:\n  - {port: ${port1}, target: "127.0.0.1:${target}", allowFrom: ["127.0.0.0/8"]}\n  - {port: ${port2}, target: "127.0.0.1:${target}", allowFrom: ["10.42.0.0/16", "agent-002"]}\n`,
  );
  const dp = await started(['--config', join(dir, 'cfg.yaml')]);
  assert.equal(dp.forwards.length, 2);
  const ok = createConnection(port1, '127.0.0.1');
  assert.equal(await roundTrip(ok, 'via forward'), 'via forward');
  ok.end();
  const no = createConnection(port2, '127.0.0.1');
  no.on('error', () => {});
  no.write('x');
  await closedBy(no);
  const recs = await eventually(
    'ingress close and deny records',
    () => {
      const r = readAudit(dp.auditPath).filter((x) => x.dir === 'ingress');
      return r.some((x) => x.event === 'close') && r.some((x) => x.decision === 'deny') ? r : undefined;
    },
    5000,
  );
  const close = recs.find((x) => x.event === 'close')!;
  assert.equal(close.bytesUp, 11);
  assert.equal(close.bytesDown, 11);
  assert.equal(recs.find((x) => x.decision === 'deny')!.reason, 'allow-from');
  // the forward's own port is never reachable through the proxy
  const loop = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port: port1 });
  loop.sock.destroy();
  assert.equal(loop.code, 0x02);
});

test('the connection limit closes connections beyond it at accept', async () => {
  const dp = await started(['--max-connections', '2']);
  const held = [createConnection(dp.proxy.port, '127.0.0.1'), createConnection(dp.proxy.port, '127.0.0.1')];
  for (const h of held) h.on('error', () => {});
  await Promise.all(held.map((h) => new Promise((r) => h.once('connect', r))));
  await new Promise((r) => setTimeout(r, 100));
  const third = createConnection(dp.proxy.port, '127.0.0.1');
  third.on('error', () => {});
  await closedBy(third);
  const m = await (await fetch(`http://127.0.0.1:${dp.health.port}/metrics`)).text();
  assert.match(m, /lattice_rejected_connections_total\{reason="limit"\} 1/);
  for (const h of held) h.destroy();
});

describe('graceful lifecycle', () => {
  test('SIGTERM stops accepting, lets open connections finish, flushes audit, exits 0', async () => {
    const port = await echo();
    const dp = await startDatapath(['--egress-allow', `127.0.0.1:${port}`, '--drain-timeout', '20s']);
    cleanups.push(() => cleanupDir(dp.dir));
    const c = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port });
    dp.proc.kill('SIGTERM');
    await eventually(
      'readyz 503 while draining',
      async () => (await fetch(`http://127.0.0.1:${dp.health.port}/readyz`)).status === 503,
      5000,
    );
    const refused = createConnection(dp.proxy.port, '127.0.0.1');
    const err = await new Promise<string>((r) => {
      refused.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? ''));
      refused.once('connect', () => r('connected'));
    });
    assert.equal(err, 'ECONNREFUSED', 'no new connections while draining');
    assert.equal(
      await roundTrip(c.sock, 'still here'),
      'still here',
      'open connections keep working while draining',
    );
    c.sock.end();
    assert.equal(await dp.exited, 0);
    const recs = readAudit(dp.auditPath);
    assert.equal(recs.at(-1)?.event, 'close');
    assert.equal(recs.at(-1)?.reason, 'client-closed');
  });
  test('connections still open at the drain deadline are closed and audited as shutdown', async () => {
    const port = await echo();
    const dp = await startDatapath(['--egress-allow', `127.0.0.1:${port}`, '--drain-timeout', '300ms']);
    cleanups.push(() => cleanupDir(dp.dir));
    const c = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port });
    dp.proc.kill('SIGTERM');
    assert.equal(await dp.exited, 0);
    await closedBy(c.sock);
    assert.equal(readAudit(dp.auditPath).at(-1)?.reason, 'shutdown');
  });
  test('a dial still in flight at the drain deadline is aborted and audited as shutdown', async () => {
    const port = await blackHole();
    const dp = await startDatapath([
      '--egress-allow',
      `127.0.0.1:${port}`,
      '--dial-timeout',
      '30s',
      '--drain-timeout',
      '500ms',
    ]);
    cleanups.push(() => cleanupDir(dp.dir));
    const pending = socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port });
    await eventually(
      'a decision record',
      () => readAudit(dp.auditPath).find((r) => r.event === 'decision'),
      5000,
    );
    dp.proc.kill('SIGTERM');
    const { code, sock } = await pending;
    sock.destroy();
    assert.equal(code, 0x01);
    assert.equal(await dp.exited, 0);
    const close = readAudit(dp.auditPath).find((r) => r.event === 'close');
    assert.equal(close?.reason, 'shutdown');
  });
  test('a second signal exits at once', async () => {
    const port = await echo();
    const dp = await startDatapath(['--egress-allow', `127.0.0.1:${port}`, '--drain-timeout', '60s']);
    cleanups.push(() => cleanupDir(dp.dir));
    const c = await socks5Connect(dp.proxy, { atyp: 'ipv4', host: '127.0.0.1', port });
    dp.proc.kill('SIGTERM');
    await eventually(
      'readyz 503 while draining',
      async () => (await fetch(`http://127.0.0.1:${dp.health.port}/readyz`)).status === 503,
      5000,
    );
    dp.proc.kill('SIGINT');
    assert.equal(await dp.exited, 2);
    c.sock.destroy();
  });
});

test('bad flags and rules fail at start, naming the flag and the value', async () => {
  const cases: [string[], RegExp][] = [
    [['--name', 'x', '--egress-allow', '10.0.0.0/33'], /--egress-allow: .*10\.0\.0\.0\/33/],
    [
      ['--name', 'x', '--proxy-addr', '127.0.0.1:99999'],
      /--proxy-addr: port must be 0-65535 \(got "127.0.0.1:99999"\)/,
    ],
    [['--name', 'x', '--forward', 'abc'], /--forward: expected PORT:HOST:PORT/],
    [['--name', 'x', '--frobnicate'], /unknown flag --frobnicate/],
    [['--egress-allow', '10.0.0.0/8'], /--name/],
    [['--name', 'x', '--config', '/nonexistent/cfg.yaml'], /--config: cannot read: ENOENT/],
  ];
  for (const [args, re] of cases) {
    const r = await run(process.execPath, [MAIN, 'sandbox', 'start', ...args]);
    assert.equal(r.code, 64, args.join(' '));
    assert.match(r.stderr, re);
  }
  const help = await run(process.execPath, [MAIN, '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /sandbox start/);
  assert.match(help.stdout, /audit verify/);
});
