// The real `lattice sandbox start` process, driven by real clients (curl, the `socks` npm client, and
// a byte-exact SOCKS5 client) against local servers: allowed traffic flows, every bypass attempt is
// denied with 0x02/403 and audited, reply codes are right, malformed input and random bytes never
// crash or stall the process, a slow reader does not grow memory, half-close works.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createConnection, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SocksClient } from 'socks';
import { eventually } from '../../e2e/testing/eventually.ts';
import {
  cleanupDir,
  type RunningDatapath,
  readAudit,
  run,
  socks5Connect,
  startDatapath,
  tcpServer,
} from '../cli/harness.ts';

let web: HttpServer;
let webPort: number;
let web2Port: number;
let web2: HttpServer;
let exact: Server;
let exactPort: number;
let closedPort: number;
let dp: RunningDatapath;
let hostsDir = '';
const BODY = 'hello from the origin\n';

function httpServer(): Promise<{ s: HttpServer; port: number }> {
  const s = createHttpServer((req, res) => {
    let n = 0;
    req.on('data', (d) => (n += d.length));
    req.on('end', () => {
      res.setHeader('x-seen-connection', String(req.headers.connection ?? ''));
      res.setHeader('x-seen-session', String(req.headers['x-lattice-session'] ?? ''));
      res.end(req.method === 'POST' ? `got ${n}\n` : BODY);
    });
  });
  return new Promise((r) =>
    s.listen(0, '127.0.0.1', () => r({ s, port: (s.address() as { port: number }).port })),
  );
}

before(async () => {
  ({ s: web, port: webPort } = await httpServer());
  ({ s: web2, port: web2Port } = await httpServer());
  // exact-bytes server: reads until the client half-closes, then answers with 3 bytes per byte received
  ({ server: exact, port: exactPort } = await tcpServer((s) => {
    let n = 0;
    s.on('data', (d) => (n += d.length));
    s.on('end', () => s.end(Buffer.alloc(n * 3, 0x61)));
    s.on('error', () => {});
  }));
  const tmp = await tcpServer(() => {});
  closedPort = tmp.port;
  await new Promise<void>((r) => tmp.server.close(() => r()));
  hostsDir = mkdtempSync(join(tmpdir(), 'lattice-hosts-'));
  writeFileSync(
    join(hostsDir, 'hosts'),
    [
      '127.0.0.1 allowed.test files.pypi.test pypi.test evilpypi.test',
      '127.0.0.2 evil.test',
      '::1 v6only.test',
    ].join('\n'),
  );
  dp = await startDatapath([
    '--egress-allow',
    `127.0.0.1:${webPort},127.0.0.1:${exactPort},127.0.0.1:${closedPort}`,
    '--egress-allow',
    `*.pypi.test:${web2Port}`,
    '--egress-allow',
    'evil.test',
    '--egress-deny',
    '127.0.0.2/32',
    '--egress-allow',
    `allowed.test:${web2Port}`,
    '--hosts-file',
    join(hostsDir, 'hosts'),
    '--handshake-timeout',
    '1s',
    '--dial-timeout',
    '2s',
  ]);
});

after(async () => {
  await dp?.stop();
  web?.close();
  web2?.close();
  exact?.close();
  if (dp) cleanupDir(dp.dir);
  if (hostsDir) cleanupDir(hostsDir);
});

const proxyUrl = () => `${dp.proxy.host}:${dp.proxy.port}`;

async function curl(args: string[]) {
  return run('curl', ['-sS', '--max-time', '10', ...args]);
}

describe('allowed traffic through real clients', () => {
  test('curl --socks5-hostname (the proxy resolves)', async () => {
    const r = await curl(['--socks5-hostname', proxyUrl(), `http://allowed.test:${web2Port}/`]);
    assert.equal(r.stdout, BODY, r.stderr);
  });
  test('curl --socks5 (curl resolves via /etc/hosts: localhost)', async () => {
    const r = await curl(['--socks5', proxyUrl(), `http://127.0.0.1:${webPort}/`]);
    assert.equal(r.stdout, BODY, r.stderr);
  });
  test('curl -x http:// plain absolute-URI request, with hop-by-hop headers removed', async () => {
    const r = await curl([
      '-i',
      '-x',
      `http://${proxyUrl()}`,
      '-H',
      'X-Lattice-Session: sess-42',
      '-H',
      'Keep-Alive: 5',
      `http://127.0.0.1:${webPort}/x?y=1`,
    ]);
    assert.match(r.stdout, /^HTTP\/1\.1 200/);
    assert.match(r.stdout, /x-seen-connection: close/i);
    assert.match(r.stdout, /x-seen-session: \r\n/i, 'the session header is for the proxy, not the origin');
    assert.ok(r.stdout.endsWith(BODY));
    const rec = await eventually('the audit record', () =>
      readAudit(dp.auditPath).find((x) => x.session === 'sess-42' && x.event === 'decision'),
    );
    assert.equal(rec.proto, 'http');
  });
  test('curl -x http:// POST body is relayed', async () => {
    const r = await curl([
      '-x',
      `http://${proxyUrl()}`,
      '--data-binary',
      'x'.repeat(100000),
      `http://127.0.0.1:${webPort}/p`,
    ]);
    assert.equal(r.stdout, 'got 100000\n', r.stderr);
  });
  test('curl -p -x http:// (CONNECT tunnel)', async () => {
    const r = await curl(['-p', '-x', `http://${proxyUrl()}`, `http://127.0.0.1:${webPort}/`]);
    assert.equal(r.stdout, BODY, r.stderr);
  });
  test('the socks npm client, with a username as the session id', async () => {
    const { socket } = await SocksClient.createConnection({
      proxy: { host: dp.proxy.host, port: dp.proxy.port, type: 5, userId: 'agent-session-7', password: 'x' },
      command: 'connect',
      destination: { host: '127.0.0.1', port: webPort },
    });
    socket.write('GET / HTTP/1.0\r\nHost: x\r\n\r\n');
    const text = await new Promise<string>((r) => {
      let t = '';
      socket.on('data', (d) => (t += d));
      socket.on('end', () => r(t));
    });
    assert.ok(text.endsWith(BODY));
    const rec = await eventually('the audit record', () =>
      readAudit(dp.auditPath).find((x) => x.session === 'agent-session-7' && x.event === 'close'),
    );
    assert.equal(rec.decision, 'allow');
  });
  test('close record counts exactly the bytes sent and received; half-close is forwarded', async () => {
    const { code, sock } = await socks5Connect(dp.proxy, {
      atyp: 'ipv4',
      host: '127.0.0.1',
      port: exactPort,
    });
    assert.equal(code, 0);
    const port = sock.localPort;
    sock.write(Buffer.alloc(12345, 1));
    sock.end(); // half-close: the server answers only after seeing our FIN
    const got = await new Promise<number>((r) => {
      let n = 0;
      sock.on('data', (d) => (n += d.length));
      sock.on('end', () => r(n));
    });
    assert.equal(got, 12345 * 3);
    const rec = await eventually('the audit record', () =>
      readAudit(dp.auditPath).find((x) => x.event === 'close' && x.src === `127.0.0.1:${port}`),
    );
    assert.equal(rec.bytesUp, 12345);
    assert.equal(rec.bytesDown, 12345 * 3);
    assert.equal(rec.dialed, `127.0.0.1:${exactPort}`);
    assert.equal(rec.path, 'direct');
    assert.equal(rec.reply, 0);
  });
});

describe('bypass attempts are denied with 0x02 / 403 and audited', () => {
  const deniedSocks = async (
    atyp: 'ipv4' | 'ipv6' | 'domain',
    host: string | Buffer,
    port: number,
    reason: string,
  ) => {
    const before = readAudit(dp.auditPath).length;
    const { code, sock } = await socks5Connect(dp.proxy, { atyp, host, port });
    sock.destroy();
    assert.equal(code, 0x02, `${String(host)}:${port}`);
    const rec = await eventually('the audit record', () =>
      readAudit(dp.auditPath)
        .slice(before)
        .find((x) => x.event === 'decision' && x.decision === 'deny'),
    );
    assert.equal(rec.reason, reason, `${String(host)}:${port}`);
    return rec;
  };
  test('loopback in every numeric spelling, to a port no rule allows', async () => {
    for (const h of [
      '127.0.0.1',
      '127.1',
      '0x7f.0.0.1',
      '2130706433',
      '0177.0.0.1',
      '0x7f000001',
      '127.0.1',
    ]) {
      await deniedSocks('domain', h, web2Port, 'default');
    }
    await deniedSocks('ipv4', '127.0.0.1', web2Port, 'default');
  });
  test('IPv4-mapped and IPv4-compatible IPv6 are judged as the IPv4 address', async () => {
    const mapped = Buffer.from('00000000000000000000ffff7f000001', 'hex');
    await deniedSocks('ipv6', mapped, web2Port, 'default');
    await deniedSocks('domain', '::ffff:127.0.0.1', web2Port, 'default');
    await deniedSocks('domain', '[::127.0.0.1]', web2Port, 'default');
    // ...and allowed where the IPv4 address is allowed, dialing the IPv4 address
    const { code, sock } = await socks5Connect(dp.proxy, { atyp: 'ipv6', host: mapped, port: webPort });
    sock.destroy();
    assert.equal(code, 0);
  });
  test('0.0.0.0 and :: are never reachable', async () => {
    await deniedSocks('ipv4', '0.0.0.0', webPort, 'never-reachable');
    await deniedSocks('domain', '0', webPort, 'never-reachable');
    await deniedSocks('ipv6', Buffer.alloc(16), webPort, 'never-reachable');
  });
  test("the datapath's own health and proxy ports", async () => {
    await deniedSocks('ipv4', '127.0.0.1', dp.health.port, 'own-listener');
    await deniedSocks('domain', '127.1', dp.proxy.port, 'own-listener');
  });
  test('a host name allowed by a host rule but resolving to a denied address', async () => {
    const rec = await deniedSocks('domain', 'evil.test', webPort, 'rule');
    assert.equal(rec.rule, 'deny 127.0.0.2/32');
    assert.deepEqual(rec.resolved, ['127.0.0.2']);
  });
  test('a wildcard does not match the bare domain nor a suffix look-alike', async () => {
    const ok = await curl(['--socks5-hostname', proxyUrl(), `http://files.pypi.test:${web2Port}/`]);
    assert.equal(ok.stdout, BODY, ok.stderr);
    await deniedSocks('domain', 'pypi.test', web2Port, 'default');
    await deniedSocks('domain', 'evilpypi.test', web2Port, 'default');
  });
  test('HTTP proxy denials are 403 with a reason, for plain and CONNECT', async () => {
    const plain = await curl(['-i', '-x', `http://${proxyUrl()}`, `http://0x7f.1:${web2Port}/`]);
    assert.match(plain.stdout, /^HTTP\/1\.1 403/);
    assert.match(plain.stdout, /denied by egress policy/);
    const tunnel = await curl([
      '-v',
      '-p',
      '-x',
      `http://${proxyUrl()}`,
      `http://[::ffff:127.0.0.1]:${web2Port}/`,
    ]);
    assert.match(tunnel.stderr, /CONNECT tunnel failed, response 403|HTTP\/1\.1 403/);
  });
  test('curl --socks5-hostname reports the denial', async () => {
    const r = await curl(['--socks5-hostname', proxyUrl(), `http://2130706433:${web2Port}/`]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /SOCKS5 connection to .*\(2\)/,
      'curl shows reply code 2 (not allowed by ruleset)',
    );
  });
});

describe('reply codes and audit reasons for failures', () => {
  test('DNS failure: 0x04, decision error, reason dns-failure (no resolution for names nothing allows)', async () => {
    const before = readAudit(dp.auditPath).length;
    const { code, sock } = await socks5Connect(dp.proxy, {
      atyp: 'domain',
      host: 'nowhere.pypi.test',
      port: web2Port,
    });
    sock.destroy();
    assert.equal(code, 0x04);
    const rec = await eventually('the audit record', () =>
      readAudit(dp.auditPath)
        .slice(before)
        .find((x) => x.host === 'nowhere.pypi.test'),
    );
    assert.equal(rec.decision, 'error');
    assert.equal(rec.reason, 'dns-failure');
    const http = await curl(['-i', '-x', `http://${proxyUrl()}`, `http://nowhere.pypi.test:${web2Port}/`]);
    assert.match(http.stdout, /^HTTP\/1\.1 502/);
  });
  test('refused: 0x05 / 502, close record reason refused', async () => {
    const { code, sock } = await socks5Connect(dp.proxy, {
      atyp: 'ipv4',
      host: '127.0.0.1',
      port: closedPort,
    });
    sock.destroy();
    assert.equal(code, 0x05);
    const rec = await eventually('the audit record', () =>
      readAudit(dp.auditPath).find((x) => x.event === 'close' && x.reason === 'refused'),
    );
    assert.equal(rec.reply, 0x05);
    assert.equal(rec.bytesUp, 0);
    const http = await curl(['-i', '-x', `http://${proxyUrl()}`, `http://127.0.0.1:${closedPort}/`]);
    assert.match(http.stdout, /^HTTP\/1\.1 502/);
  });
  test('BIND and UDP ASSOCIATE are answered 0x07, an unknown address type 0x08', async () => {
    for (const [req, want] of [
      [[5, 2, 0, 1, 127, 0, 0, 1, 0, 80], 0x07],
      [[5, 3, 0, 1, 127, 0, 0, 1, 0, 80], 0x07],
      [[5, 1, 0, 9, 127, 0, 0, 1, 0, 80], 0x08],
    ] as const) {
      const reply = await rawExchange([Buffer.from([5, 1, 0]), Buffer.from(req)]);
      assert.equal(reply[0], 5);
      assert.equal(reply[1], 0, 'no auth');
      assert.equal(reply[3], want, `request ${req.join(',')}`);
    }
  });
});

/** Sends chunks, collects everything until the proxy closes (or 3 s). */
function rawExchange(chunks: Buffer[], opts: { read?: boolean } = {}): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = createConnection(dp.proxy.port, dp.proxy.host);
    const got: Buffer[] = [];
    s.on('data', (d) => got.push(d));
    s.on('error', () => {});
    const t = setTimeout(() => s.destroy(), 3000);
    s.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(got));
    });
    s.on('connect', () => {
      for (const c of chunks) s.write(c);
      if (opts.read === false) s.pause();
    });
  });
}

async function stillServes() {
  const r = await curl(['--socks5-hostname', proxyUrl(), `http://127.0.0.1:${webPort}/`]);
  assert.equal(r.stdout, BODY, `still serving: ${r.stderr}`);
  assert.equal(dp.proc.exitCode, null);
}

describe('malformed input never crashes or stalls the process', () => {
  test('truncated greetings, wrong versions, garbage, SOCKS4, oversized names, bad HTTP', async () => {
    const cases: Buffer[][] = [
      [Buffer.from([5])],
      [Buffer.from([5, 5, 0])],
      [Buffer.from([6, 1, 0])],
      [Buffer.from([5, 0])],
      [Buffer.from([5, 1, 0x80])],
      [Buffer.from([5, 1, 0]), Buffer.from([4, 1, 0, 1, 127, 0, 0, 1, 0, 80])],
      [Buffer.from([5, 1, 0]), Buffer.from([5, 1, 0, 3, 255]), Buffer.alloc(255, 0x61), Buffer.from([0, 80])],
      [Buffer.from([5, 1, 0]), Buffer.from([5, 1, 0, 3, 0, 0, 80])],
      [Buffer.from([5, 1, 2]), Buffer.from([9, 1, 0x61])],
      [Buffer.from([4, 1, 0, 80, 127, 0, 0, 1, 0])],
      [Buffer.from('\x00\xff\xfe garbage')],
      [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
      [Buffer.from('CONNECT nohost HTTP/1.1\r\n\r\n')],
      [Buffer.from('GET https://x/ HTTP/1.1\r\n\r\n')],
      [Buffer.from(`GET http://x/ HTTP/1.1\r\nX: ${'a'.repeat(20000)}\r\n\r\n`)],
      [Buffer.from('BREW coffee HTCPCP/1.0\r\n\r\n')],
      [Buffer.from('GET http://x/ HTTP/1.1\r\nbad header\r\n\r\n')],
    ];
    for (const c of cases) await rawExchange(c);
    const longName = await rawExchange([
      Buffer.from([5, 1, 0]),
      Buffer.from([5, 1, 0, 3, 255]),
      Buffer.alloc(255, 0x61),
      Buffer.from([0, 80]),
    ]);
    assert.equal(longName[3], 0x02, 'a 255-byte name is not a valid host name: denied');
    const http = await rawExchange([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    assert.match(http.toString(), /^HTTP\/1\.1 400/);
    const big = await rawExchange([Buffer.from(`GET http://x/ HTTP/1.1\r\nX: ${'a'.repeat(20000)}\r\n\r\n`)]);
    assert.match(big.toString(), /^HTTP\/1\.1 431/);
    await stillServes();
  });
  test('a client that sends nothing is closed after the handshake timeout', async () => {
    const start = Date.now();
    const got = await rawExchange([]);
    assert.equal(got.length, 0);
    assert.ok(Date.now() - start < 2900, 'closed by the 1 s handshake timeout, not by the test');
  });
  test('a client that never reads: backpressure bounds memory, the server is paused', async () => {
    let written = 0;
    let stopWriting = false;
    const { server, port } = await tcpServer((s) => {
      s.on('error', () => {});
      const chunk = Buffer.alloc(64 * 1024, 0x62);
      const pump = () => {
        while (!stopWriting && s.write(chunk)) written += chunk.length;
        if (!stopWriting) s.once('drain', pump);
      };
      pump();
    });
    // this test needs its own allowed port and a fresh process to measure: a second datapath
    const dp2 = await startDatapath(['--egress-allow', `127.0.0.1:${port}`]);
    try {
      const c = await socks5Connect(dp2.proxy, { atyp: 'ipv4', host: '127.0.0.1', port });
      assert.equal(c.code, 0);
      c.sock.pause(); // never read
      await new Promise((r) => setTimeout(r, 1500));
      const w1 = written;
      await new Promise((r) => setTimeout(r, 1000));
      // The server is blocked: it wrote at most socket buffers + one relay buffer, and stopped.
      assert.ok(w1 < 64 * 1024 * 1024, `server wrote ${w1} bytes into a non-reading client`);
      assert.ok(
        written - w1 <= 1024 * 1024,
        `server kept writing (${written - w1} more bytes): no backpressure`,
      );
      const metrics = await (await fetch(`http://127.0.0.1:${dp2.health.port}/metrics`)).text();
      const rss = Number(/lattice_process_resident_memory_bytes (\d+)/.exec(metrics)?.[1]);
      assert.ok(rss > 0 && rss < 200 * 1024 * 1024, `datapath RSS ${rss}`);
      c.sock.destroy();
    } finally {
      stopWriting = true;
      server.close();
      await dp2.stop();
      cleanupDir(dp2.dir);
    }
  });
  test('fuzz: random bytes at the port for a bounded time, then it still serves', async () => {
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed;
    };
    const deadline = Date.now() + 3000;
    let n = 0;
    while (Date.now() < deadline && n < 300) {
      const batch: Promise<Buffer>[] = [];
      for (let i = 0; i < 10; i++, n++) {
        const len = 1 + (rnd() % 600);
        const b = Buffer.alloc(len);
        for (let j = 0; j < len; j++) b[j] = rnd() & 0xff;
        // half the cases start like a real protocol so the parsers get past the first byte
        if (i % 3 === 0) b[0] = 5;
        if (i % 3 === 1) b.write('CONNECT ', 0, 'latin1');
        batch.push(
          new Promise((resolve) => {
            const s = createConnection(dp.proxy.port, dp.proxy.host);
            s.on('error', () => {});
            s.on('connect', () => s.end(b));
            s.on('data', () => {});
            const t = setTimeout(() => s.destroy(), 1500);
            s.on('close', () => {
              clearTimeout(t);
              resolve(Buffer.alloc(0));
            });
          }),
        );
      }
      await Promise.all(batch);
    }
    assert.ok(n >= 10);
    await stillServes();
  });
});

test('audit records of this run verify, and an edited line is detected', async () => {
  const v = await run(process.execPath, [
    new URL('../cli/main.ts', import.meta.url).pathname,
    'audit',
    'verify',
    dp.auditPath,
  ]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /^OK \d+ records/);
  const recs = readAudit(dp.auditPath);
  for (const r of recs) {
    for (const k of [
      'v',
      'time',
      'seq',
      'sandbox',
      'event',
      'conn',
      'dir',
      'proto',
      'src',
      'decision',
      'reason',
      'prev',
      'hash',
    ]) {
      assert.ok(k in r && r[k] !== undefined, `field ${k} in ${JSON.stringify(r)}`);
    }
    assert.match(String(r.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  const seqs = recs.map((r) => r.seq as number);
  assert.deepEqual(
    seqs,
    seqs.map((_, i) => i + 1),
  );
  // Turn one denial into an allow, as someone covering their tracks would: the verifier names the line.
  const lines = readFileSync(dp.auditPath, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes('"decision":"deny"'));
  assert.ok(i > 0);
  lines[i] = lines[i].replace('"decision":"deny"', '"decision":"allow"');
  const edited = join(dp.dir, 'edited.jsonl');
  writeFileSync(edited, lines.join('\n'));
  const bad = await run(process.execPath, [
    new URL('../cli/main.ts', import.meta.url).pathname,
    'audit',
    'verify',
    edited,
  ]);
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout, `FAIL ${edited}:${i + 1}: hash does not match the line (edited?)\n`);
  // Removing a line is detected at the next one.
  const removed = readFileSync(dp.auditPath, 'utf8').split('\n');
  removed.splice(3, 1);
  writeFileSync(edited, removed.join('\n'));
  const gap = await run(process.execPath, [
    new URL('../cli/main.ts', import.meta.url).pathname,
    'audit',
    'verify',
    edited,
  ]);
  assert.equal(gap.code, 1);
  assert.match(gap.stdout, /:4: seq 5 does not follow 3/);
});
