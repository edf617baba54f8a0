// A wg-quick style configuration file (`--wg-config FILE`), so a sandbox can join an existing
// WireGuard network without the control plane. Pure: text in, typed config out; errors name the line
// and the key, and never repeat a key's value (keys are secrets).
//
//   [Interface]  PrivateKey (required), Address (repeatable, comma lists), ListenPort, MTU
//   [Peer]       PublicKey (required), PresharedKey, Endpoint (host:port, [v6]:port), AllowedIPs
//                (repeatable, comma lists), PersistentKeepalive (seconds or "off")
// wg-quick's host-side keys (DNS, Table, FwMark, SaveConfig, PreUp/PostUp/PreDown/PostDown) are
// reported as ignored, never acted on: this process configures no host networking and runs no hooks.
import { type Cidr, CidrError, formatCidr, parseCidr } from './allowed-ips.ts';
import { decodeKey, encodeKey, KeyFormatError } from './keys.ts';

export class WgQuickConfigError extends Error {
  override name = 'WgQuickConfigError';
  readonly line: number;
  readonly key: string | null;
  constructor(source: string, line: number, key: string | null, why: string) {
    super(`${source}:${line}: ${key ? `${key}: ` : ''}${why}`);
    this.line = line;
    this.key = key;
  }
}

export interface WgQuickEndpoint {
  /** An IP address or a DNS name (resolved by the caller). */
  host: string;
  port: number;
}

export interface WgQuickPeer {
  publicKey: Buffer;
  presharedKey?: Buffer;
  endpoint?: WgQuickEndpoint;
  allowedIps: string[];
  persistentKeepalive: number;
  line: number;
}

export interface WgQuickConfig {
  privateKey: Buffer;
  addresses: Cidr[];
  listenPort?: number;
  mtu?: number;
  peers: WgQuickPeer[];
  /** Keys understood by wg-quick but not by us, with their lines: reported, never acted on. */
  ignored: { line: number; key: string }[];
}

const IGNORED_INTERFACE_KEYS = new Set([
  'dns',
  'table',
  'fwmark',
  'saveconfig',
  'preup',
  'postup',
  'predown',
  'postdown',
]);

export function parseWgQuickConfig(text: string, source = 'wg-config'): WgQuickConfig {
  let section: 'none' | 'interface' | 'peer' = 'none';
  let sawInterface = false;
  let privateKey: Buffer | undefined;
  const addresses: Cidr[] = [];
  let listenPort: number | undefined;
  let mtu: number | undefined;
  const peers: WgQuickPeer[] = [];
  const ignored: { line: number; key: string }[] = [];
  let peer:
    | (Partial<WgQuickPeer> & { allowedIps: string[]; line: number; persistentKeepalive: number })
    | null = null;
  const seen = new Set<string>();

  const finishPeer = () => {
    if (!peer) return;
    if (!peer.publicKey) throw new WgQuickConfigError(source, peer.line, '[Peer]', 'PublicKey is required');
    const hex = peer.publicKey.toString('hex');
    if (seen.has(hex)) {
      throw new WgQuickConfigError(
        source,
        peer.line,
        '[Peer]',
        `duplicate peer ${encodeKey(peer.publicKey)}`,
      );
    }
    seen.add(hex);
    peers.push(peer as WgQuickPeer);
    peer = null;
  };

  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const hash = lines[i].indexOf('#');
    const raw = (hash >= 0 ? lines[i].slice(0, hash) : lines[i]).trim();
    if (raw === '') continue;
    const header = /^\[\s*([A-Za-z]+)\s*\]$/.exec(raw);
    if (header) {
      const name = header[1].toLowerCase();
      if (name === 'interface') {
        if (sawInterface) throw new WgQuickConfigError(source, lineNo, null, 'a second [Interface] section');
        finishPeer();
        sawInterface = true;
        section = 'interface';
      } else if (name === 'peer') {
        finishPeer();
        section = 'peer';
        peer = { allowedIps: [], line: lineNo, persistentKeepalive: 0 };
      } else {
        throw new WgQuickConfigError(source, lineNo, null, `unknown section [${header[1]}]`);
      }
      continue;
    }
    const eq = raw.indexOf('=');
    if (eq <= 0) throw new WgQuickConfigError(source, lineNo, null, 'expected "Key = Value" or a [Section]');
    const key = raw.slice(0, eq).trim();
    const value = raw.slice(eq + 1).trim();
    const k = key.toLowerCase();
    if (section === 'none')
      throw new WgQuickConfigError(source, lineNo, key, 'appears before [Interface] or [Peer]');
    const fail = (why: string): never => {
      throw new WgQuickConfigError(
        source,
        lineNo,
        `[${section === 'peer' ? 'Peer' : 'Interface'}] ${key}`,
        why,
      );
    };
    const key32 = (what: string) => {
      try {
        return decodeKey(value, what);
      } catch (e) {
        if (e instanceof KeyFormatError) return fail('not a 32-byte base64 WireGuard key');
        throw e;
      }
    };
    const cidrList = (keepHostBits = false): Cidr[] =>
      value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
        .map((s) => {
          try {
            return parseCidr(s, keepHostBits);
          } catch (e) {
            if (e instanceof CidrError) return fail(e.message);
            throw e;
          }
        });
    const integer = (min: number, max: number): number => {
      if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
        return fail(`must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
      }
      return Number(value);
    };

    if (section === 'interface') {
      if (k === 'privatekey') privateKey = key32('PrivateKey');
      else if (k === 'address') addresses.push(...cidrList(true));
      else if (k === 'listenport') listenPort = integer(0, 65535);
      else if (k === 'mtu') mtu = integer(576, 65535);
      else if (IGNORED_INTERFACE_KEYS.has(k)) ignored.push({ line: lineNo, key });
      else fail('unknown key in [Interface]');
    } else if (peer) {
      if (k === 'publickey') peer.publicKey = key32('PublicKey');
      else if (k === 'presharedkey') peer.presharedKey = key32('PresharedKey');
      else if (k === 'endpoint')
        peer.endpoint = parseEndpoint(value) ?? fail('must be HOST:PORT or [IPv6]:PORT');
      else if (k === 'allowedips') peer.allowedIps.push(...cidrList().map(formatCidr));
      else if (k === 'persistentkeepalive')
        peer.persistentKeepalive = value === 'off' ? 0 : integer(0, 65535);
      else fail('unknown key in [Peer]');
    }
  }
  finishPeer();
  if (!sawInterface) throw new WgQuickConfigError(source, lines.length, null, 'no [Interface] section');
  if (!privateKey)
    throw new WgQuickConfigError(source, lines.length, '[Interface]', 'PrivateKey is required');
  return { privateKey, addresses, listenPort, mtu, peers, ignored };
}

function parseEndpoint(value: string): WgQuickEndpoint | null {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(value) ?? /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return null;
  return { host: m[1], port: Number(m[2]) };
}
