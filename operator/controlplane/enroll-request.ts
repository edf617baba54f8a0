// Validation of `POST /api/v1/enroll` bodies. Pure. Every field is checked for type, length and
// format before anything touches Kubernetes, and the error says which field is wrong (never echoing
// the token).
import { badRequest } from './errors.ts';
import { isWellFormedToken } from './token.ts';

export interface EnrollRequest {
  name: string;
  namespace: string;
  token: string;
  /** WireGuard public key, base64 of 32 bytes. */
  publicKey: string;
  /** Optional NATS user public key (nkey, `U…`); when absent the control plane makes the key pair. */
  busPublicKey?: string;
  /** Optional WireGuard listen port the datapath uses (for the endpoint peers dial). */
  wgPort?: number;
}

export const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const NKEY_USER = /^U[A-Z2-7]{55}$/;

export function isWireGuardKey(v: unknown): v is string {
  return typeof v === 'string' && WG_KEY.test(v);
}

export function parseEnrollRequest(body: unknown): EnrollRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('invalid_body', 'request body must be a JSON object');
  }
  const b = body as Record<string, unknown>;
  const known = new Set(['name', 'namespace', 'token', 'publicKey', 'busPublicKey', 'wgPort']);
  for (const k of Object.keys(b)) {
    if (!known.has(k)) throw badRequest('unknown_field', `unknown field "${k.slice(0, 64)}"`);
  }
  if (typeof b.name !== 'string' || !DNS_SUBDOMAIN.test(b.name)) {
    throw badRequest('invalid_name', 'name must be a Kubernetes object name (DNS-1123 subdomain)');
  }
  if (typeof b.namespace !== 'string' || !DNS_LABEL.test(b.namespace)) {
    throw badRequest('invalid_namespace', 'namespace must be a DNS-1123 label');
  }
  if (b.token === undefined || b.token === '') throw badRequest('missing_token', 'token is required');
  if (!isWellFormedToken(b.token)) {
    throw badRequest('malformed_token', 'token must be "lt-" followed by 32 lowercase hex characters');
  }
  if (!isWireGuardKey(b.publicKey)) {
    throw badRequest('invalid_public_key', 'publicKey must be a WireGuard public key (base64 of 32 bytes)');
  }
  const req: EnrollRequest = { name: b.name, namespace: b.namespace, token: b.token, publicKey: b.publicKey };
  if (b.busPublicKey !== undefined) {
    if (typeof b.busPublicKey !== 'string' || !NKEY_USER.test(b.busPublicKey)) {
      throw badRequest(
        'invalid_bus_public_key',
        'busPublicKey must be a NATS user public nkey (U…, 56 characters)',
      );
    }
    req.busPublicKey = b.busPublicKey;
  }
  if (b.wgPort !== undefined) {
    if (!Number.isInteger(b.wgPort) || (b.wgPort as number) < 1 || (b.wgPort as number) > 65535) {
      throw badRequest('invalid_wg_port', 'wgPort must be an integer port 1-65535');
    }
    req.wgPort = b.wgPort as number;
  }
  return req;
}
