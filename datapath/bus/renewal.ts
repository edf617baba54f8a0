// Keeps the bus credential valid: when a third of its lifetime is left (at most 7 days before it
// expires) the datapath asks the control plane for a fresh one (a signed request proving it holds
// the key), stores it atomically and reconnects with it. An unreachable control plane is retried
// every minute; a refusal (credential revoked) is reported and not retried.
import { ControlPlaneError, renewCredential } from '../enroll/client.ts';
import { type SandboxCredentials, writeCredentials } from '../enroll/credentials.ts';
import type { BusConnection } from './connection.ts';

const WEEK = 7 * 86_400_000;

/** When to renew a credential issued at `enrolledAt` and expiring at `expiresAt` (ms). Pure. */
export function renewAt(issuedAt: number, expiresAt: number): number {
  const lifetime = Math.max(expiresAt - issuedAt, 0);
  return expiresAt - Math.min(lifetime / 3, WEEK);
}

export class CredentialRenewal {
  private creds: SandboxCredentials;
  private issuedAt: number;
  private timer: NodeJS.Timeout | null = null;
  lastError: string | null = null;
  renewals = 0;
  private readonly path: string;
  private readonly bus: BusConnection;
  private readonly log: { info(m: string, f?: object): void; warn(m: string, f?: object): void };

  constructor(creds: SandboxCredentials, path: string, bus: BusConnection, log: CredentialRenewal['log']) {
    this.creds = creds;
    this.issuedAt = Date.parse(creds.enrolledAt);
    this.path = path;
    this.bus = bus;
    this.log = log;
  }

  get expiresAt(): string {
    return this.creds.bus.expiresAt;
  }

  start(): void {
    this.schedule(renewAt(this.issuedAt, Date.parse(this.creds.bus.expiresAt)) - Date.now());
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(inMs: number): void {
    this.stop();
    this.timer = setTimeout(() => void this.renew(), Math.min(Math.max(inMs, 0), 2 ** 31 - 1));
    this.timer.unref();
  }

  async renew(): Promise<void> {
    const c = this.creds;
    try {
      const fresh = await renewCredential(c.serverUrl, c.bus.jwt, c.bus.seed);
      const now = Date.now();
      this.creds = { ...c, bus: { ...c.bus, jwt: fresh.jwt, expiresAt: fresh.expiresAt } };
      this.issuedAt = now;
      writeCredentials(this.path, this.creds);
      await this.bus.renew(fresh.jwt);
      this.renewals++;
      this.lastError = null;
      this.log.info('bus credential renewed', { expiresAt: fresh.expiresAt });
      this.schedule(renewAt(now, Date.parse(fresh.expiresAt)) - now);
    } catch (e) {
      this.lastError = (e as Error).message;
      if (e instanceof ControlPlaneError && e.kind === 'rejected') {
        this.log.warn('the control plane refused to renew the bus credential', { error: this.lastError });
        return;
      }
      this.log.warn('renewing the bus credential failed; retrying in a minute', { error: this.lastError });
      this.schedule(60_000);
    }
  }
}
