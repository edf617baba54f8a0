// Keeps the datapath's peers equal to its netmap: the bus delivers changes (and the current map on
// request, with a heartbeat that asks for it on every connect); while the bus is down the control
// plane's /api/v1/netmap is polled instead. Every map goes through NetmapState, so whichever source
// is newer wins and nothing is applied twice. Heartbeats also tell the control plane we are alive.
import type { Subscription } from '@nats-io/nats-core';
import { ControlPlaneError, getNetmap } from '../enroll/client.ts';
import type { SandboxCredentials } from '../enroll/credentials.ts';
import type { BusConnection } from './connection.ts';
import { type NetmapChange, NetmapState, parseBusMessage } from './netmap-state.ts';

export interface NetmapSyncOptions {
  credentials: SandboxCredentials;
  bus: BusConnection;
  apply: (change: NetmapChange, state: NetmapState) => void;
  log: { info(m: string, f?: object): void; warn(m: string, f?: object): void };
  heartbeatMs?: number;
  pollMs?: number;
}

export class NetmapSync {
  readonly state: NetmapState;
  readonly o: NetmapSyncOptions;
  lastHeartbeat: string | null = null;
  lastPoll: { time: string; ok: boolean; error?: string } | null = null;
  /** set when the control plane says this credential is no longer bound to the sandbox */
  rejected: string | null = null;
  private sub: Subscription | null = null;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(o: NetmapSyncOptions) {
    this.o = o;
    this.state = new NetmapState(o.credentials.uid);
  }

  start(): void {
    const c = this.o.credentials;
    this.o.bus.onConnect(() => {
      const nc = this.o.bus.nc;
      if (!nc) return;
      if (this.sub === null || this.sub.isClosed()) {
        this.sub = nc.subscribe(c.bus.subjects.netmap);
        (async () => {
          for await (const m of this.sub!) {
            try {
              this.offer(parseBusMessage(m.json()));
            } catch (e) {
              this.o.log.warn('ignored a bad netmap message', { error: (e as Error).message });
            }
          }
        })().catch(() => {});
      }
      this.heartbeat(true);
    });
    const hb = setInterval(() => this.heartbeat(false), this.o.heartbeatMs ?? 10_000);
    hb.unref();
    const poll = setInterval(() => {
      if (this.o.bus.state !== 'connected' || this.state.version === 0) void this.poll();
    }, this.o.pollMs ?? 5_000);
    poll.unref();
    this.timers.push(hb, poll);
    void this.poll();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.sub?.unsubscribe();
  }

  offer(m: ReturnType<typeof parseBusMessage>): void {
    if (this.stopped) return;
    const change = this.state.apply(m);
    if (change) this.o.apply(change, this.state);
  }

  private heartbeat(needNetmap: boolean): void {
    const nc = this.o.bus.nc;
    if (!nc || this.o.bus.state !== 'connected') return;
    const body = {
      time: new Date().toISOString(),
      netmapVersion: this.state.version,
      needNetmap: needNetmap || this.state.version === 0,
    };
    try {
      nc.publish(this.o.credentials.bus.subjects.heartbeat, JSON.stringify(body));
      this.lastHeartbeat = body.time;
    } catch {
      // disconnected between the check and the publish; the next tick retries
    }
  }

  async poll(): Promise<void> {
    const c = this.o.credentials;
    try {
      this.offer(parseBusMessage(await getNetmap(c.serverUrl, c.bus.jwt, c.bus.seed)));
      this.lastPoll = { time: new Date().toISOString(), ok: true };
    } catch (e) {
      const msg = (e as Error).message;
      this.lastPoll = { time: new Date().toISOString(), ok: false, error: msg };
      if (e instanceof ControlPlaneError && e.kind === 'rejected' && e.status === 401) {
        if (this.rejected === null)
          this.o.log.warn('the control plane no longer accepts this credential', { error: msg });
        this.rejected = msg;
      }
    }
  }
}
