// HTTP proxy requests: the request head parsed from bytes (sans-IO), the target of a CONNECT or an
// absolute-URI request, and the head rewritten for the origin server with hop-by-hop headers removed.

export const MAX_HEAD_BYTES = 16 * 1024;

export interface HttpHead {
  readonly method: string;
  readonly target: string;
  readonly version: string;
  /** header lines in order, names as sent */
  readonly headers: readonly (readonly [string, string])[];
  /** bytes after the head (request body or tunneled data sent early) */
  readonly rest: Buffer;
}

export interface HttpError {
  readonly status: number;
  readonly why: string;
}

/** Returns the parsed head, null when more bytes are needed, or an error with its status code. */
export function parseHttpHead(buf: Buffer): HttpHead | HttpError | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return buf.length > MAX_HEAD_BYTES ? { status: 431, why: 'request head too large' } : null;
  if (end > MAX_HEAD_BYTES) return { status: 431, why: 'request head too large' };
  const text = buf.subarray(0, end).toString('latin1');
  const lines = text.split('\r\n');
  const m = /^([A-Z]{1,20}) (\S+) (HTTP\/1\.[01])$/.exec(lines[0]);
  if (!m) return { status: 400, why: 'malformed request line' };
  const headers: [string, string][] = [];
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i];
    const c = l.indexOf(':');
    if (c <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(l.slice(0, c)))
      return { status: 400, why: 'malformed header line' };
    headers.push([l.slice(0, c), l.slice(c + 1).trim()]);
  }
  return { method: m[1], target: m[2], version: m[3], headers, rest: Buffer.from(buf.subarray(end + 4)) };
}

export function isHttpError(x: HttpHead | HttpError): x is HttpError {
  return 'status' in x;
}

export function header(head: HttpHead, name: string): string | null {
  const n = name.toLowerCase();
  for (const [k, v] of head.headers) if (k.toLowerCase() === n) return v;
  return null;
}

export interface Authority {
  readonly host: string;
  readonly port: number;
}

/** `host:port` or `[v6]:port`; `defaultPort` applies when the port is absent (absolute URIs only). */
export function parseAuthority(text: string, defaultPort: number | null): Authority | null {
  let host: string;
  let portText: string | null = null;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return null;
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return null;
      portText = rest.slice(1);
    }
  } else {
    const c = text.lastIndexOf(':');
    if (c >= 0) {
      host = text.slice(0, c);
      portText = text.slice(c + 1);
    } else host = text;
  }
  if (host === '' || /[@/\\?#\s]/.test(host)) return null;
  let port: number;
  if (portText === null) {
    if (defaultPort === null) return null;
    port = defaultPort;
  } else {
    if (!/^[0-9]{1,5}$/.test(portText)) return null;
    port = Number.parseInt(portText, 10);
    if (port < 1 || port > 65535) return null;
  }
  return { host, port };
}

export interface AbsoluteTarget extends Authority {
  /** origin-form for the upstream request: path and query */
  readonly path: string;
  readonly authority: string;
}

/** `http://host[:port]/path?query` → its parts; other schemes and user info are refused. */
export function parseAbsoluteUri(target: string): AbsoluteTarget | null {
  if (!/^http:\/\//i.test(target)) return null;
  const after = target.slice(7);
  const cut = after.search(/[/?#]/);
  const authority = cut < 0 ? after : after.slice(0, cut);
  let path = cut < 0 ? '/' : after.slice(cut);
  if (path.startsWith('?')) path = `/${path}`;
  const hash = path.indexOf('#');
  if (hash >= 0) path = path.slice(0, hash);
  const a = parseAuthority(authority, 80);
  if (a === null) return null;
  return { ...a, path, authority };
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'upgrade',
  // proxy-directed: carried into the audit record, not to the origin
  'x-lattice-session',
]);

/**
 * The head sent to the origin server: origin-form target, hop-by-hop headers (and every header the
 * client's Connection header names) removed, `Connection: close` so one proxied request is one
 * upstream connection. Transfer-Encoding is kept: the body is relayed byte for byte.
 */
export function rewriteForOrigin(head: HttpHead, t: AbsoluteTarget): Buffer {
  const named = new Set<string>();
  for (const [k, v] of head.headers) {
    if (k.toLowerCase() === 'connection') for (const n of v.split(',')) named.add(n.trim().toLowerCase());
  }
  const lines = [`${head.method} ${t.path} ${head.version}`];
  let hasHost = false;
  for (const [k, v] of head.headers) {
    const l = k.toLowerCase();
    if (HOP_BY_HOP.has(l) || named.has(l)) continue;
    if (l === 'host') hasHost = true;
    lines.push(`${k}: ${v}`);
  }
  if (!hasHost) lines.push(`Host: ${t.authority}`);
  lines.push('Connection: close');
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** The agent's session id: X-Lattice-Session, else the trace id of a W3C traceparent header. */
export function sessionFromHeaders(head: HttpHead): string | null {
  const s = header(head, 'x-lattice-session');
  if (s !== null && s.length > 0) return s.slice(0, 128);
  const tp = header(head, 'traceparent');
  if (tp !== null) {
    const m = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(tp);
    if (m) return m[1];
  }
  return null;
}

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  403: 'Forbidden',
  405: 'Method Not Allowed',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** A complete error response with a short plain-text reason; the connection closes after it. */
export function httpErrorResponse(status: number, reason: string): Buffer {
  const body = `${reason}\n`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export const CONNECT_ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n');
