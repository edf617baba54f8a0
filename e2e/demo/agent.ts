// The demo agent (test infrastructure, like the e2e node agent): what `make demo` runs for the
// samples' agent container (the node agent maps the image `lattice-sandbox/demo-agent` to this
// file). It stands in for an AI agent that talks to a peer agent and sometimes tries somewhere it
// must not go:
//   - serves HTTP on 127.0.0.1:$PORT (default 3000), the target of the sandbox's forward (the
//     forward's own port, 8080 in the samples, is taken by the datapath on loopback too);
//   - every $INTERVAL_MS (default 3000, at least 500) looks up its peer ($PEER_AGENT) in its own
//     datapath's /status (the health port on loopback, which the fence allows) to learn the peer's
//     overlay IP, fetches http://<peer overlay IP>:$PEER_PORT/ (default 8080) through its proxy ($HTTP_PROXY, which the
//     operator sets), and tries $DENIED_URL (default the cloud metadata address) through the same
//     proxy;
//   - logs one JSON line per attempt ($AGENT_NAME names it in the log).
// No name resolution, no traffic anywhere but through the datapath (and the loopback status read).
import { createServer, request } from 'node:http';
import type { Socket } from 'node:net';

const env = process.env;
const agent = env.AGENT_NAME ?? env.HOSTNAME ?? 'agent';
const port = Number(env.PORT ?? 3000);
const peerPort = Number(env.PEER_PORT ?? 8080);
const healthPort = Number(env.LATTICE_HEALTH_PORT ?? 15021);
const peer = env.PEER_AGENT;
const deniedURL = new URL(env.DENIED_URL ?? 'http://169.254.169.254/latest/meta-data/');
const intervalMs = Math.max(500, Number(env.INTERVAL_MS ?? 3000));
const proxy = env.HTTP_PROXY ? new URL(env.HTTP_PROXY) : undefined;
const TIMEOUT_MS = 5000;

const log = (o: Record<string, unknown>) =>
  console.log(JSON.stringify({ time: new Date().toISOString(), agent, ...o }));

let served = 0;
createServer((req, res) => {
  served++;
  res.setHeader('content-type', 'text/plain');
  res.end(`hello from ${agent} (request ${served}, ${req.method} ${req.url})\n`);
}).listen(port, '127.0.0.1', () => log({ event: 'serving', port }));

type Result = { ok: true; status: number; body: string } | { ok: false; error: string };

/** GET http://host:port/path; through the proxy with CONNECT when one is set. */
function get(url: URL, viaProxy: boolean): Promise<Result> {
  return new Promise((resolve) => {
    const done = (r: Result) => resolve(r);
    const fetchOn = (socket?: Socket) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port || 80,
          path: url.pathname + url.search,
          createConnection: socket ? () => socket : undefined,
          timeout: TIMEOUT_MS,
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            if (body.length < 4096) body += c;
          });
          res.on('end', () => done({ ok: true, status: res.statusCode ?? 0, body }));
          res.on('error', (e) => done({ ok: false, error: e.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => done({ ok: false, error: e.message }));
      req.end();
    };
    if (!viaProxy) return fetchOn();
    if (!proxy) return done({ ok: false, error: 'HTTP_PROXY is not set' });
    const connect = request({
      host: proxy.hostname,
      port: proxy.port,
      method: 'CONNECT',
      path: `${url.hostname}:${url.port || 80}`,
      timeout: TIMEOUT_MS,
    });
    connect.on('connect', (res, socket) => {
      if (res.statusCode === 200) return fetchOn(socket);
      socket.destroy();
      done({ ok: false, error: `proxy answered ${res.statusCode} ${res.statusMessage ?? ''}`.trim() });
    });
    // a refusal may come as an ordinary response, depending on the Node version
    connect.on('response', (res) => {
      res.resume();
      done({ ok: false, error: `proxy answered ${res.statusCode} ${res.statusMessage ?? ''}`.trim() });
    });
    connect.on('timeout', () => connect.destroy(new Error('timeout')));
    connect.on('error', (e) => done({ ok: false, error: e.message }));
    connect.end();
  });
}

/** The peer's overlay IP from our datapath's /status (overlay.peers[].name, allowedIps). */
async function peerAddress(name: string): Promise<string | undefined> {
  const r = await get(new URL(`http://127.0.0.1:${healthPort}/status`), false);
  if (!r.ok || r.status !== 200) return undefined;
  try {
    const status = JSON.parse(r.body) as {
      overlay?: { peers?: { name?: string; allowedIps?: string[] }[] };
    };
    const p = status.overlay?.peers?.find((x) => x.name === name);
    return p?.allowedIps?.[0]?.split('/')[0];
  } catch {
    return undefined;
  }
}

async function round(): Promise<void> {
  if (peer) {
    const ip = await peerAddress(peer);
    if (!ip) log({ event: 'peer', peer, result: 'not in the netmap yet' });
    else {
      const url = `http://${ip}:${peerPort}/`;
      const r = await get(new URL(url), true);
      log({ event: 'peer', peer, url, ...r });
    }
  }
  const d = await get(deniedURL, true);
  log({ event: 'forbidden', url: deniedURL.href, ...d });
}

let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const)
  process.on(sig, () => {
    stopping = true;
    process.exit(0);
  });
while (!stopping) {
  await round();
  await new Promise((r) => setTimeout(r, intervalMs));
}
