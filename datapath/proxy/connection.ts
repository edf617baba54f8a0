// One client connection to the proxy port, from accept to close, as an explicit state machine:
//   handshake → deciding → dialing → relaying → closed   (any state → closed)
// SOCKS5 and HTTP are told apart by the first byte. The policy decides once, the checked address is
// dialed, then the relay moves bytes. An allowed connection's decision record is written before
// the connection relays a byte: after the dial and the success reply, off the connect's critical
// path; while the audit file is not known to be writable, before the dial. A record that cannot be
// written refuses the connection (fail closed) or, written after the reply, ends it unrelayed.

import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { AuditFields, AuditProtocol } from '../audit/record.ts';
import { DialError, type DialErrorKind, type DialedStream } from '../dial/dialer.ts';
import { ResolveError } from '../dial/resolver.ts';
import {
  formatAddress,
  formatEndpoint,
  type IPAddress,
  normalise,
  parseAddressLiteral,
} from '../policy/address.ts';
import { classifyDestination } from '../policy/destination.ts';
import type { Decision } from '../policy/engine.ts';
import type { ProxyDeps } from './deps.ts';
import {
  type AbsoluteTarget,
  CONNECT_ESTABLISHED,
  type HttpHead,
  httpErrorResponse,
  isHttpError,
  parseAbsoluteUri,
  parseAuthority,
  parseHttpHead,
  rewriteForOrigin,
  sessionFromHeaders,
} from './http.ts';
import { type CloseReason, Relay } from './relay.ts';
import { REP, Socks5Handshake, socks5Reply } from './socks5.ts';
import type { Watch } from './timeouts.ts';

type State = 'handshake' | 'deciding' | 'dialing' | 'relaying' | 'closed';

/** The client side: a proxy socket, or (gVisor mode) a netstack TCP stream. */
export type ClientStream = Duplex;

interface Request {
  readonly proto: AuditProtocol;
  readonly host: string;
  readonly port: number;
  readonly session: string | null;
  /** bytes to send upstream first: early client data, or the rewritten HTTP head + body start */
  readonly first: Buffer | null;
}

const SOCKS_FOR_DIAL: Record<DialErrorKind, number> = {
  refused: REP.connectionRefused,
  unreachable: REP.hostUnreachable,
  'no-route': REP.networkUnreachable,
  timeout: REP.ttlExpired,
  aborted: REP.generalFailure,
};
const HTTP_FOR_DIAL: Record<DialErrorKind, number> = {
  refused: 502,
  unreachable: 502,
  'no-route': 502,
  timeout: 504,
  aborted: 502,
};

export class ProxyConnection {
  private state: State = 'handshake';
  private readonly sock: ClientStream;
  private readonly deps: ProxyDeps;
  private readonly id: string;
  private readonly src: string;
  private readonly started = Date.now();
  private buffered: Buffer = Buffer.alloc(0);
  private socks: Socks5Handshake | null = null;
  private readonly abort = new AbortController();

  constructor(sock: Socket | ClientStream, deps: ProxyDeps, src?: string) {
    this.sock = sock;
    this.deps = deps;
    this.id = deps.tracker.nextId();
    const s = sock as Partial<Socket>;
    this.src = src ?? `${s.remoteAddress ?? '?'}:${s.remotePort ?? 0}`;
  }

  /**
   * gVisor mode: the agent connected to host:port itself (the netstack intercepted it), so there is
   * no handshake; the same decision, audit, dial and relay follow. A refusal is a TCP reset.
   */
  startIntercepted(host: string, port: number): void {
    const s = this.sock;
    s.pause();
    s.on('error', this.onEarlyError);
    s.on('close', this.onEarlyClose);
    this.state = 'deciding';
    void this.decide({ proto: 'transparent', host, port, session: null, first: null });
  }

  /**
   * gVisor mode, on the agent's SYN (before the handshake): judges host:port with the same decision
   * code, and if it is denied audits and counts the denial exactly as for a connection. Returns
   * whether the netstack should answer the SYN (true) or refuse it with a RST (false), so a denied
   * agent sees "connection refused". An admitted connection is judged again on the accepted stream
   * by startIntercepted (the policy may change in between), and only that one is audited as allowed.
   */
  static admitIntercepted(deps: ProxyDeps, src: string, host: string, port: number): boolean {
    const probe = new Duplex({
      read() {},
      write(_c, _e, cb) {
        cb();
      },
    });
    const c = new ProxyConnection(probe, deps, src);
    c.admitOnly = true;
    // (for an address, which is all an intercepted connection has, the decision is synchronous)
    c.startIntercepted(host, port);
    return c.admitted;
  }

  private admitOnly = false;
  private admitted = false;

  /** The reply code an audit record carries for this request's protocol. */
  private replyFor(req: Request, socksCode: number, httpStatus: number): number | null {
    return req.proto === 'socks5' ? socksCode : req.proto === 'transparent' ? null : httpStatus;
  }

  start(): void {
    const s = this.sock;
    // (TCP_NODELAY is set by the server at accept)
    this.deps.timeouts.watch(this.handshakeWatch);
    s.on('error', this.onEarlyError);
    s.on('close', this.onEarlyClose);
    s.on('data', this.onHandshakeData);
  }

  /** The handshake timeout: from accept to a complete request (timeouts.ts ticks it). */
  private readonly handshakeWatch: Watch = (now) => {
    if (this.state !== 'handshake') return true;
    if (now - this.started < this.deps.limits.handshakeMs) return false;
    this.deps.metrics.rejected.inc({ reason: 'handshake-timeout' });
    this.destroy();
    return true;
  };

  private readonly onEarlyError = () => {
    if (this.state !== 'relaying') this.destroy();
  };

  private readonly onEarlyClose = () => {
    this.deps.timeouts.unwatch(this.handshakeWatch);
    if (this.state !== 'relaying') {
      this.abort.abort();
      this.state = 'closed';
    }
  };

  /** A method, not a field read, so the compiler does not narrow the state across awaits. */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private destroy(): void {
    this.deps.timeouts.unwatch(this.handshakeWatch);
    this.state = 'closed';
    this.abort.abort();
    this.sock.destroy();
  }

  /** Sends a final answer and closes (the client may still read it). */
  private finishWith(bytes: Buffer): void {
    this.state = 'closed';
    this.abort.abort();
    this.sock.end(bytes);
    // never wait forever on a client that does not read its error reply
    setTimeout(() => this.sock.destroy(), 2000).unref();
  }

  private readonly onHandshakeData = (chunk: Buffer) => {
    if (this.state !== 'handshake') return;
    if (this.socks === null && this.buffered.length === 0) {
      const b = chunk[0];
      if (b === 0x05) this.socks = new Socks5Handshake();
      else if (b === 0x04) {
        // SOCKS4: "request rejected"
        this.deps.metrics.rejected.inc({ reason: 'malformed' });
        this.finishWith(Buffer.from([0, 0x5b, 0, 0, 0, 0, 0, 0]));
        return;
      } else if (!(b >= 0x41 && b <= 0x5a)) {
        this.deps.metrics.rejected.inc({ reason: 'malformed' });
        this.destroy();
        return;
      }
    }
    if (this.socks !== null) this.onSocksData(this.socks, chunk);
    else this.onHttpData(chunk);
  };

  private endHandshake(): void {
    this.deps.timeouts.unwatch(this.handshakeWatch);
    this.sock.pause();
    this.sock.removeListener('data', this.onHandshakeData);
  }

  private onSocksData(h: Socks5Handshake, chunk: Buffer): void {
    const p = h.push(chunk);
    for (const b of p.send) this.sock.write(b);
    const o = p.outcome;
    if (o === null) return;
    this.endHandshake();
    if (o.kind === 'fail') {
      this.deps.metrics.rejected.inc({ reason: 'malformed' });
      if (o.reply !== null) {
        // a well-formed request we do not serve (BIND, UDP ASSOCIATE, unknown address type): audit it
        this.audit({
          ...this.base('socks5', null, null, null),
          decision: 'deny',
          reason: o.why,
          reply: o.reply,
        });
      }
      this.finishWith(Buffer.alloc(0));
      return;
    }
    const session = o.username !== null && o.username.length > 0 ? o.username.slice(0, 128) : null;
    void this.decide({ proto: 'socks5', host: o.host, port: o.port, session, first: o.rest });
  }

  private onHttpData(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const r = parseHttpHead(this.buffered);
    if (r === null) return;
    this.endHandshake();
    this.buffered = Buffer.alloc(0);
    if (isHttpError(r)) {
      this.deps.metrics.rejected.inc({ reason: 'malformed' });
      this.finishWith(httpErrorResponse(r.status, r.why));
      return;
    }
    this.onHttpHead(r);
  }

  private onHttpHead(head: HttpHead): void {
    const session = sessionFromHeaders(head);
    if (head.method === 'CONNECT') {
      const a = parseAuthority(head.target, null);
      if (a === null) {
        this.deps.metrics.rejected.inc({ reason: 'malformed' });
        this.finishWith(httpErrorResponse(400, 'CONNECT needs host:port'));
        return;
      }
      void this.decide({ proto: 'http-connect', host: a.host, port: a.port, session, first: head.rest });
      return;
    }
    const t: AbsoluteTarget | null = parseAbsoluteUri(head.target);
    if (t === null) {
      this.deps.metrics.rejected.inc({ reason: 'malformed' });
      this.finishWith(httpErrorResponse(400, 'a proxy request needs an absolute http:// URI or CONNECT'));
      return;
    }
    const out = rewriteForOrigin(head, t);
    void this.decide({
      proto: 'http',
      host: t.host,
      port: t.port,
      session,
      first: Buffer.concat([out, head.rest]),
    });
  }

  private base(
    proto: AuditProtocol,
    host: string | null,
    port: number | null,
    session: string | null,
  ): AuditFields {
    return {
      event: 'decision',
      conn: this.id,
      session,
      dir: 'egress',
      proto,
      src: this.src,
      host,
      port,
      resolved: null,
      dialed: null,
      path: null,
      decision: 'deny',
      rule: null,
      reason: '',
      reply: null,
      bytesUp: null,
      bytesDown: null,
      durationMs: null,
    };
  }

  private audit(f: AuditFields): boolean {
    return this.deps.audit.append(f);
  }

  private refuse(req: Request, socksCode: number, httpStatus: number, why: string): void {
    if (this.isClosed()) return;
    if (req.proto === 'transparent') {
      this.destroy(); // the agent sees its connection reset
      return;
    }
    this.finishWith(req.proto === 'socks5' ? socks5Reply(socksCode) : httpErrorResponse(httpStatus, why));
  }

  private async decide(req: Request): Promise<void> {
    this.state = 'deciding';
    const d = this.deps;
    if (d.draining()) {
      d.metrics.rejected.inc({ reason: 'shutting-down' });
      this.refuse(req, REP.generalFailure, 503, 'the datapath is shutting down');
      return;
    }
    const rec = this.base(req.proto, req.host, req.port, req.session);
    const deny = (
      decision: Decision | null,
      reason: string,
      socksCode: number,
      httpStatus: number,
      why: string,
    ) => {
      rec.decision = decision === null ? 'error' : 'deny';
      rec.rule = decision?.rule ?? null;
      rec.reason = reason;
      rec.reply = this.replyFor(req, socksCode, httpStatus);
      this.audit(rec);
      d.metrics.decided(rec.decision, rec.rule ?? reason, req.proto);
      d.stats.deny(`${rec.host}:${req.port}`, rec.rule ?? reason, Date.now());
      this.refuse(req, socksCode, httpStatus, why);
    };
    const dest = classifyDestination(req.host);
    if (dest.kind === 'invalid' || req.port === 0) {
      deny(
        { action: 'deny', reason: 'invalid-host', rule: null, address: null },
        'invalid-host',
        REP.notAllowed,
        403,
        `denied: invalid destination (${dest.kind === 'invalid' ? dest.why : 'port 0'})`,
      );
      return;
    }
    let policy = d.policy.get();
    let addresses: IPAddress[];
    let name: string | null = null;
    if (dest.kind === 'name') {
      name = dest.name;
      rec.host = name;
      const pre = policy.precheckHost(name, req.port, Date.now());
      if (pre !== null) {
        deny(pre, pre.reason, REP.notAllowed, 403, `denied by egress policy (${pre.rule ?? 'default deny'})`);
        return;
      }
      try {
        addresses = await d.resolver.resolve(name, d.limits.dialMs);
      } catch (e) {
        if (this.isClosed()) return;
        const kind = e instanceof ResolveError ? e.kind : 'failure';
        deny(
          null,
          kind === 'timeout' ? 'dns-timeout' : 'dns-failure',
          REP.hostUnreachable,
          kind === 'timeout' ? 504 : 502,
          `cannot resolve ${name}`,
        );
        return;
      }
      if (this.isClosed()) return;
      policy = d.policy.get();
    } else {
      addresses = [dest.address];
    }
    rec.resolved = addresses.map(formatAddress);
    const decision = policy.decide(name, addresses, req.port, Date.now());
    if (decision.action === 'deny') {
      const what = decision.rule ?? (decision.reason === 'default' ? 'default deny' : decision.reason);
      deny(decision, decision.reason, REP.notAllowed, 403, `denied by egress policy (${what})`);
      return;
    }
    if (this.admitOnly) {
      this.admitted = true;
      this.destroy();
      return;
    }
    rec.decision = 'allow';
    rec.rule = decision.rule;
    rec.reason = decision.reason;
    // The record is written after the dial and the success reply, off the connect's critical path;
    // while the file is not known to be writable, before the dial (a failure then refuses).
    const deferred = d.audit.knownWritable;
    if (!deferred && !this.audit(rec) && d.failClosed) {
      this.refuseUnaudited(req);
      return;
    }
    d.metrics.decided('allow', decision.rule ?? 'default', req.proto);
    d.stats.allow();
    await this.dial(req, rec, name, addresses, d.policy.generation, deferred);
  }

  private refuseUnaudited(req: Request): void {
    this.deps.metrics.rejected.inc({ reason: 'audit-unavailable' });
    this.refuse(req, REP.generalFailure, 503, 'audit log unavailable: refusing connections (fail closed)');
  }

  private async dial(
    req: Request,
    rec: AuditFields,
    name: string | null,
    addresses: IPAddress[],
    generation: number,
    /** the decision record `rec` is still to be written */
    deferred: boolean,
  ): Promise<void> {
    this.state = 'dialing';
    const d = this.deps;
    // Tracked from the dial on, so a drain waits for it and a policy change or shutdown aborts it;
    // the entry is replaced by the relaying one once connected.
    let abortedFor: CloseReason | null = null;
    const track = (close: (why: CloseReason) => void) =>
      d.tracker.add({ id: this.id, dir: 'egress', host: name, addresses, port: req.port, close });
    track((why) => {
      abortedFor = why;
      this.abort.abort();
    });
    const deadline = Date.now() + d.limits.dialMs;
    let dialed: DialedStream | null = null;
    // Errors capture stack traces, which costs more than the rest of a decision: create one only on failure.
    let lastError: DialError | null = null;
    let target = addresses[0];
    const t0 = performance.now();
    for (const a of addresses) {
      // Dial the address that was judged: an IPv4-mapped form is dialed as the IPv4 address it means.
      const n = normalise(a);
      target = n.embedded === null ? n.address : a;
      const left = deadline - Date.now();
      if (left <= 0) {
        lastError = new DialError('timeout', 'dial deadline passed');
        break;
      }
      try {
        dialed = await d.dialer.dial(
          { address: target, port: req.port },
          { connId: this.id, timeoutMs: left, signal: this.abort.signal },
        );
        break;
      } catch (e) {
        lastError = e instanceof DialError ? e : new DialError('unreachable', String(e));
        if (lastError.kind === 'aborted') break;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const close: AuditFields = { ...rec, event: 'close', dialed: formatEndpoint(target, req.port) };
    // A connection that will not be relayed gets its deferred decision record now, ahead of its close
    // record; a relayed one right after its success reply.
    if (dialed === null) {
      if (deferred) d.audit.appendSoon(rec);
      d.tracker.remove(this.id);
      lastError ??= new DialError('unreachable', 'no address');
      d.metrics.dialed(lastError.kind, seconds);
      // A dial aborted by a policy change or the shutdown is recorded as that, not as 'aborted'.
      const revoked = abortedFor as CloseReason | null;
      const socksCode =
        revoked === 'policy-revoked'
          ? REP.notAllowed
          : revoked !== null
            ? REP.generalFailure
            : SOCKS_FOR_DIAL[lastError.kind];
      const httpStatus =
        revoked === 'policy-revoked' ? 403 : revoked !== null ? 503 : HTTP_FOR_DIAL[lastError.kind];
      close.reason = revoked ?? lastError.kind;
      close.reply = this.replyFor(req, socksCode, httpStatus);
      close.bytesUp = 0;
      close.bytesDown = 0;
      close.durationMs = Date.now() - this.started;
      this.audit(close);
      this.refuse(req, socksCode, httpStatus, `cannot connect to ${req.host}:${req.port}: ${close.reason}`);
      return;
    }
    const up = dialed.stream;
    close.path = dialed.path;
    const abortReason = abortedFor as CloseReason | null;
    if (this.isClosed() || this.sock.destroyed || abortReason !== null) {
      if (deferred) d.audit.appendSoon(rec);
      d.metrics.dialed('ok', seconds);
      d.tracker.remove(this.id);
      up.destroy();
      this.finishRecord(close, abortReason ?? 'client-closed', 0, 0);
      if (abortReason !== null)
        this.refuse(req, REP.generalFailure, 503, `connection closed: ${abortReason}`);
      return;
    }
    // The policy may have changed while dialing: judge again with the one now in force.
    if (
      d.policy.generation !== generation &&
      d.policy.get().decide(name, addresses, req.port, Date.now()).action === 'deny'
    ) {
      if (deferred) d.audit.appendSoon(rec);
      d.metrics.dialed('ok', seconds);
      d.tracker.remove(this.id);
      up.destroy();
      this.finishRecord(close, 'policy-revoked', 0, 0);
      this.refuse(req, REP.notAllowed, 403, 'denied by egress policy (changed while connecting)');
      return;
    }
    // Bytes the client sent with its request go upstream as the relay starts: their decision record
    // is written first. (Without such bytes it is written after the success reply, below.)
    const early = req.first !== null && req.first.length > 0;
    if (deferred && early && !this.audit(rec) && d.failClosed) {
      d.metrics.dialed('ok', seconds);
      d.tracker.remove(this.id);
      up.destroy();
      this.refuseUnaudited(req);
      return;
    }
    this.state = 'relaying';
    this.sock.removeListener('close', this.onEarlyClose);
    // The success reply first: the client is waiting on it, and nothing else here is. Nothing can
    // move before the relay below is set up and the decision record written: relayed data is only
    // read in later I/O callbacks, and all of this happens now, in this one. (A/B: the reply before
    // the set-up, the metrics and the record's write is 4-12 µs off the connect p50.)
    if (req.proto === 'socks5') {
      this.sock.write(
        socks5Reply(REP.succeeded, dialed.localAddress ?? parseAddressLiteral('0.0.0.0'), dialed.localPort),
      );
    } else if (req.proto === 'http-connect') this.sock.write(CONNECT_ESTABLISHED);
    close.reply = req.proto === 'socks5' ? REP.succeeded : req.proto === 'http-connect' ? 200 : null;
    const relay = new Relay(
      this.sock,
      up,
      (r, reason) => {
        d.tracker.remove(this.id);
        d.metrics.activeConnections('egress', -1);
        this.state = 'closed';
        this.finishRecord(close, reason, r.up, r.down);
      },
      dialed.reads,
    );
    relay.start(req.first);
    track((why) => relay.close(why));
    relay.closeWhenIdle(d.timeouts, d.limits.idleMs);
    d.metrics.dialed('ok', seconds);
    d.metrics.activeConnections('egress', 1);
    if (deferred && !early && !this.audit(rec) && d.failClosed) {
      d.metrics.rejected.inc({ reason: 'audit-unavailable' });
      relay.close('audit-unavailable');
    }
  }

  private finishRecord(close: AuditFields, reason: string, up: number, down: number): void {
    close.reason = reason;
    close.bytesUp = up;
    close.bytesDown = down;
    close.durationMs = Date.now() - this.started;
    this.deps.metrics.relayed(up, down);
    // Nothing waits on a close record: it is written with the next decision or within a few ms.
    this.deps.audit.appendSoon(close);
  }
}
