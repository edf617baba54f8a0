// How other parts of the datapath (WireGuard, netstack, bus, gVisor) plug into `sandbox start`
// without the core knowing them: a part registers a start function; after the core is up it is
// called with the running Datapath and may add dial routes, forward listeners, status sections,
// readiness checks and metrics. Whatever it returns is stopped on shutdown, in reverse order.

import type { Settings } from '../config/settings.ts';
import type { RoutingDialer } from '../dial/dialer.ts';
import type { Resolver } from '../dial/resolver.ts';
import type { DatapathMetrics } from '../health/metrics.ts';
import type { StatusRegistry } from '../health/status.ts';
import type { CurrentPolicy } from '../policy/current.ts';
import type { ProxyDeps } from '../proxy/deps.ts';
import type { ConnectionTracker } from '../proxy/tracker.ts';
import type { Logger } from './log.ts';

export interface Datapath {
  readonly settings: Settings;
  readonly log: Logger;
  readonly policy: CurrentPolicy;
  /** add overlay routes with dialer.setRoutes(...) */
  readonly dialer: RoutingDialer;
  readonly resolver: Resolver;
  readonly status: StatusRegistry;
  readonly metrics: DatapathMetrics;
  readonly tracker: ConnectionTracker;
  /** the dependencies the proxy and forwards use (audit sink, limits, ...) */
  readonly deps: ProxyDeps;
}

export interface RunningPart {
  stop(): Promise<void>;
}

export type PartStarter = (dp: Datapath) => Promise<RunningPart | undefined>;

const parts: { name: string; start: PartStarter }[] = [];

export function registerDatapathPart(name: string, start: PartStarter): void {
  parts.push({ name, start });
}

export function registeredParts(): readonly { name: string; start: PartStarter }[] {
  return parts;
}
