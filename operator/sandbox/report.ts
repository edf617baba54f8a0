// The datapath's /status document, as far as the operator reads it, and the poll that
// fetches it. docs/status.md (datapath) is the full format; this parses a typed subset
// defensively: a missing or malformed field is "unknown", never an exception.
import http from 'node:http';

export type DatapathReport = {
  ready: boolean | undefined;
  enrolled: boolean | undefined;
  overlayIP: string | undefined;
  publicKey: string | undefined;
  overlayUp: boolean | undefined;
  peers: { total: number; connected: number; lastHandshakeTime: string | undefined } | undefined;
  egress:
    | {
        allowed: number;
        denied: number;
        recentDenials: { dst: string; rule: string; count: number; last: string | undefined }[];
      }
    | undefined;
  audit:
    | {
        records: number;
        lastRecordTime: string | undefined;
        streamed: number | undefined;
        healthy: boolean | undefined;
      }
    | undefined;
  enrollment: { consumedAt: string | undefined; enrolledAt: string | undefined } | undefined;
};

export type PollResult = { ok: true; report: DatapathReport } | { ok: false; reason: string };

type J = Record<string, unknown>;
const obj = (v: unknown): J | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as J) : undefined;
const str = (v: unknown, max = 300): string | undefined =>
  typeof v === 'string' && v.length <= max ? v : undefined;
const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined;
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);
const time = (v: unknown): string | undefined => {
  // RFC 3339 strings, or epoch milliseconds (WireGuard peer stats; 0 means "never").
  const ms = typeof v === 'number' ? (v > 0 ? v : Number.NaN) : Date.parse(str(v, 64) ?? '');
  return Number.isFinite(ms) ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined;
};

/**
 * Pure: the parts of a /status JSON document the sandbox status shows. Sections as the datapath
 * writes them (datapath/cli/start.ts, datapath/overlay/part.ts): `sandbox` {name, mode, phase},
 * `egress`, `audit` {healthy, records, lastRecordTime}, `overlay` {publicKey, addresses,
 * peers: [{lastHandshakeTime (ms), connected}]}, `ready` {ready, checks}. An `identity` section
 * (enrolled, overlayIP, publicKey, enrolledAt, consumedAt) is read when present.
 */
export function parseReport(doc: unknown): DatapathReport {
  const d = obj(doc) ?? {};
  const identity = obj(d.identity) ?? {};
  const sandbox = obj(d.sandbox) ?? {};
  const overlay = obj(d.overlay);
  const readyV = obj(d.ready) ? bool((d.ready as J).ready) : bool(d.ready);
  const addresses = Array.isArray(overlay?.addresses) ? overlay.addresses : [];
  const firstAddress = str(addresses[0], 64)?.split('/')[0];
  const peersRaw = overlay?.peers ?? d.peers;
  let peers: DatapathReport['peers'];
  if (Array.isArray(peersRaw)) {
    const list = peersRaw.map(obj).filter((p): p is J => p !== undefined);
    const hs = (p: J) => time(p.lastHandshakeTime ?? p.lastHandshake);
    const times = list.map(hs).filter((t): t is string => !!t);
    peers = {
      total: list.length,
      connected: list.filter((p) => bool(p.connected) ?? hs(p) !== undefined).length,
      lastHandshakeTime: times.sort().at(-1),
    };
  } else if (obj(peersRaw)) {
    const p = peersRaw as J;
    peers = {
      total: num(p.total) ?? 0,
      connected: num(p.connected) ?? 0,
      lastHandshakeTime: time(p.lastHandshakeTime ?? p.lastHandshake),
    };
  }
  const eg = obj(d.egress);
  const au = obj(d.audit);
  const enrolledAt = time(identity.enrolledAt);
  const overlayIP = str(identity.overlayIP, 64) ?? firstAddress;
  let enrolled = bool(identity.enrolled);
  if (enrolled === undefined && (enrolledAt !== undefined || overlayIP !== undefined)) enrolled = true;
  if (enrolled === undefined && sandbox.mode === 'enrolled') enrolled = false;
  if (enrolled === undefined && sandbox.mode === 'standalone') enrolled = overlay !== undefined;
  const counters = eg && num(eg.allowed) !== undefined && num(eg.denied) !== undefined;
  return {
    ready: readyV,
    enrolled,
    overlayIP,
    publicKey: str(identity.publicKey ?? overlay?.publicKey, 64),
    overlayUp: bool(overlay?.up) ?? (overlay ? true : undefined),
    peers,
    egress: counters
      ? {
          allowed: num(eg.allowed)!,
          denied: num(eg.denied)!,
          recentDenials: (Array.isArray(eg.recentDenials) ? eg.recentDenials : [])
            .map(obj)
            .filter((x): x is J => x !== undefined)
            .slice(0, 10)
            .map((x) => ({
              dst: str(x.dst) ?? '?',
              rule: str(x.rule) ?? 'default',
              count: num(x.count) ?? 1,
              last: time(x.last),
            })),
        }
      : undefined,
    audit: au && {
      records: num(au.records) ?? 0,
      lastRecordTime: time(au.lastRecordTime),
      // records acknowledged by JetStream: the enrolled datapath reports them under bus.audit
      streamed: num(au.streamed) ?? num(obj(obj(d.bus)?.audit)?.streamed),
      healthy: bool(au.healthy ?? au.ok),
    },
    enrollment: { consumedAt: time(identity.consumedAt), enrolledAt },
  };
}

/** GET http://IP:PORT/status with a hard timeout; any failure is a reason, not a throw. */
export function pollStatus(ip: string, port: number, timeoutMs: number): Promise<PollResult> {
  return new Promise((resolve) => {
    const host = ip.includes(':') ? `[${ip}]` : ip;
    const req = http.get(`http://${host}:${port}/status`, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 1 << 20) req.destroy(new Error('status document larger than 1 MiB'));
        else chunks.push(c);
      });
      res.on('end', () => {
        if (res.statusCode !== 200)
          return resolve({ ok: false, reason: `/status answered HTTP ${res.statusCode}` });
        try {
          resolve({ ok: true, report: parseReport(JSON.parse(Buffer.concat(chunks).toString('utf8'))) });
        } catch {
          resolve({ ok: false, reason: '/status is not JSON' });
        }
      });
      res.on('error', (e) => resolve({ ok: false, reason: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ ok: false, reason: e.message }));
  });
}
