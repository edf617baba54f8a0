// SOCKS5 (RFC 1928, with RFC 1929 username/password) server handshake as a sans-IO state machine:
// feed it bytes, it says what to send back and, at the end, what the client asked for.
// No sockets here, so every malformed-input case is a plain unit test.

import { formatIPv4, formatIPv6, type IPAddress } from '../policy/address.ts';

export const REP = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

export interface Socks5Request {
  readonly kind: 'request';
  /** the host as the client gave it: a domain name, or the text of an IPv4/IPv6 address */
  readonly host: string;
  readonly atyp: 'ipv4' | 'ipv6' | 'domain';
  readonly port: number;
  /** RFC 1929 user name, used as the agent's session id */
  readonly username: string | null;
  /** bytes the client sent after the request (optimistic data), to forward once connected */
  readonly rest: Buffer;
}

export interface Socks5Failure {
  readonly kind: 'fail';
  readonly why: string;
  /** the request's reply code, when the failure has one (the caller audits those) */
  readonly reply: number | null;
}

export interface Socks5Progress {
  /** bytes to write to the client now (method selection, auth status, or a failure reply) */
  readonly send: Buffer[];
  /** null while more bytes are needed */
  readonly outcome: Socks5Request | Socks5Failure | null;
}

type State = 'greeting' | 'auth' | 'request' | 'done';

// The fixed two-byte answers, made once: a Buffer given to a socket write is only read.
const METHOD_USERPASS = Buffer.from([5, 0x02]);
const METHOD_NONE = Buffer.from([5, 0x00]);
const METHOD_NO_ACCEPTABLE = Buffer.from([5, 0xff]);
const AUTH_OK = Buffer.from([1, 0]);
const AUTH_BAD_VERSION = Buffer.from([1, 1]);

/** Longest possible handshake step is the request with a 255-byte name: 4 + 1 + 255 + 2 bytes. */
const MAX_BUFFER = 1024;

export function socks5Reply(code: number, bound: IPAddress | null = null, port = 0): Buffer {
  if (bound !== null && bound.family === 6) {
    const b = Buffer.alloc(22);
    b[0] = 5;
    b[1] = code;
    b[3] = 4;
    for (let i = 0; i < 4; i++) b.writeUInt32BE(bound.w[i], 4 + 4 * i);
    b.writeUInt16BE(port, 20);
    return b;
  }
  const b = Buffer.alloc(10);
  b[0] = 5;
  b[1] = code;
  b[3] = 1;
  if (bound !== null) b.writeUInt32BE(bound.v4, 4);
  b.writeUInt16BE(port, 8);
  return b;
}

export class Socks5Handshake {
  private state: State = 'greeting';
  private buf: Buffer = Buffer.alloc(0);
  private username: string | null = null;

  push(chunk: Buffer): Socks5Progress {
    if (this.state === 'done')
      return { send: [], outcome: { kind: 'fail', why: 'data after the handshake ended', reply: null } };
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const send: Buffer[] = [];
    for (;;) {
      const r = this.step(send);
      if (r === 'need') {
        if (this.buf.length > MAX_BUFFER)
          return this.finish(send, { kind: 'fail', why: 'handshake too long', reply: null });
        return { send, outcome: null };
      }
      if (r !== 'continue') return this.finish(send, r);
    }
  }

  private finish(send: Buffer[], outcome: Socks5Request | Socks5Failure): Socks5Progress {
    this.state = 'done';
    this.buf = Buffer.alloc(0);
    return { send, outcome };
  }

  private step(send: Buffer[]): 'need' | 'continue' | Socks5Request | Socks5Failure {
    const b = this.buf;
    switch (this.state) {
      case 'greeting': {
        if (b.length < 2) return 'need';
        if (b[0] !== 5) return { kind: 'fail', why: `unsupported SOCKS version ${b[0]}`, reply: null };
        const n = b[1];
        if (b.length < 2 + n) return 'need';
        const methods = b.subarray(2, 2 + n);
        this.buf = b.subarray(2 + n);
        // Prefer username/password when offered: the user name carries the agent's session id.
        if (methods.includes(0x02)) {
          send.push(METHOD_USERPASS);
          this.state = 'auth';
        } else if (methods.includes(0x00)) {
          send.push(METHOD_NONE);
          this.state = 'request';
        } else {
          send.push(METHOD_NO_ACCEPTABLE);
          return { kind: 'fail', why: 'no acceptable authentication method', reply: null };
        }
        return 'continue';
      }
      case 'auth': {
        if (b.length < 2) return 'need';
        if (b[0] !== 1) {
          send.push(AUTH_BAD_VERSION);
          return { kind: 'fail', why: `unsupported auth version ${b[0]}`, reply: null };
        }
        const ulen = b[1];
        if (b.length < 2 + ulen + 1) return 'need';
        const plen = b[2 + ulen];
        if (b.length < 3 + ulen + plen) return 'need';
        this.username = b.subarray(2, 2 + ulen).toString('utf8');
        this.buf = b.subarray(3 + ulen + plen);
        send.push(AUTH_OK);
        this.state = 'request';
        return 'continue';
      }
      case 'request': {
        if (b.length < 5) return 'need';
        if (b[0] !== 5) {
          send.push(socks5Reply(REP.generalFailure));
          return { kind: 'fail', why: `bad request version ${b[0]}`, reply: REP.generalFailure };
        }
        const cmd = b[1];
        if (cmd !== 1) {
          send.push(socks5Reply(REP.commandNotSupported));
          return {
            kind: 'fail',
            why:
              cmd === 2
                ? 'BIND not supported'
                : cmd === 3
                  ? 'UDP ASSOCIATE not supported'
                  : `unknown command ${cmd}`,
            reply: REP.commandNotSupported,
          };
        }
        const atyp = b[3];
        let host: string;
        let kind: Socks5Request['atyp'];
        let end: number;
        if (atyp === 1) {
          end = 4 + 4;
          if (b.length < end + 2) return 'need';
          host = formatIPv4(b.readUInt32BE(4));
          kind = 'ipv4';
        } else if (atyp === 4) {
          end = 4 + 16;
          if (b.length < end + 2) return 'need';
          host = formatIPv6([b.readUInt32BE(4), b.readUInt32BE(8), b.readUInt32BE(12), b.readUInt32BE(16)]);
          kind = 'ipv6';
        } else if (atyp === 3) {
          const len = b[4];
          end = 5 + len;
          if (b.length < end + 2) return 'need';
          host = b.subarray(5, end).toString('latin1');
          kind = 'domain';
        } else {
          send.push(socks5Reply(REP.addressTypeNotSupported));
          return {
            kind: 'fail',
            why: `address type ${atyp} not supported`,
            reply: REP.addressTypeNotSupported,
          };
        }
        const port = b.readUInt16BE(end);
        const rest = Buffer.from(b.subarray(end + 2));
        return { kind: 'request', host, atyp: kind, port, username: this.username, rest };
      }
      default:
        return { kind: 'fail', why: 'handshake already finished', reply: null };
    }
  }
}
