// `lattice sandbox start`: wires settings, policy, audit, proxy, forwards and health together, then
// runs until a signal. Lifecycle: starting → running → draining → stopped.
//   SIGHUP           re-read --config and replace the policy (connections it forbids are closed)
//   SIGTERM/SIGINT   stop accepting, drain up to --drain-timeout, close the rest, flush audit, exit 0
//   second signal    exit 2 at once

import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { AuditWriter } from '../audit/writer.ts';
import { parseConfigText, readConfigFileText } from '../config/file.ts';
import { parseStartFlags, startUsage } from '../config/flags.ts';
import { resolveSettings, type Settings, type SettingsPatch } from '../config/settings.ts';
import { ConfigWatcher } from '../config/watch.ts';
import { RoutingDialer } from '../dial/dialer.ts';
import { DirectDialer } from '../dial/direct.ts';
import { HostsFileResolver, type Resolver, SystemResolver } from '../dial/resolver.ts';
import { Forwarder } from '../forward/forwarder.ts';
import { TcpStreamListener } from '../forward/listener.ts';
import { DatapathMetrics } from '../health/metrics.ts';
import { HealthServer } from '../health/server.ts';
import { StatusRegistry } from '../health/status.ts';
import { type IPAddress, parseAddressLiteral } from '../policy/address.ts';
import { CurrentPolicy } from '../policy/current.ts';
import type { OwnListener } from '../policy/engine.ts';
import type { ProxyDeps } from '../proxy/deps.ts';
import { ProxyServer } from '../proxy/server.ts';
import { EgressStats } from '../proxy/stats.ts';
import { Timeouts, tickFor } from '../proxy/timeouts.ts';
import { ConnectionTracker } from '../proxy/tracker.ts';
import { createLogger, type Logger } from './log.ts';
import { type Datapath, type RunningPart, registeredParts } from './parts.ts';

/**
 * Parts register themselves when imported: the enrolled datapath (--server-url: credentials, overlay
 * from the netmap, bus, audit streaming) and the overlay (--wg-config: WireGuard + netstack).
 * They are imported only when their flags ask for them: together they bring ~20 MiB of modules
 * (NATS client, WireGuard, netstack, sodium) that a standalone datapath, budgeted at 64 MiB, must
 * not pay for.
 */
const PART_MODULES: { readonly when: (s: Settings) => boolean; readonly load: () => Promise<unknown> }[] = [
  { when: (s) => s.serverUrl !== null, load: () => import('../enroll/part.ts') },
  {
    when: (s) => s.extra['wg-config'] !== undefined || s.extra['wg-port'] !== undefined,
    load: () => import('../overlay/part.ts'),
  },
  { when: (s) => s.extra.mode !== undefined, load: () => import('../gvisor/part.ts') },
];

type Phase = 'starting' | 'running' | 'draining' | 'stopped';

function localAddresses(): IPAddress[] {
  const out: IPAddress[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      const a = parseAddressLiteral(i.address);
      if (a !== null) out.push(a);
    }
  }
  return out;
}

function readAdminToken(s: Settings, log: Logger): string | null {
  if (s.adminTokenFile !== null) {
    const t = readFileSync(s.adminTokenFile, 'utf8').trim();
    if (t.length < 16)
      throw new Error(`--admin-token-file ${s.adminTokenFile}: the token must be at least 16 characters`);
    return t;
  }
  const env = process.env.LATTICE_ADMIN_TOKEN;
  if (env !== undefined && env.length > 0) {
    if (env.length < 16) throw new Error('LATTICE_ADMIN_TOKEN must be at least 16 characters');
    return env;
  }
  log.info('admin endpoint disabled (no --admin-token-file or LATTICE_ADMIN_TOKEN)');
  return null;
}

export async function sandboxStart(argv: readonly string[]): Promise<number> {
  const flags = parseStartFlags(argv);
  if (flags === 'help') {
    // The image runs `sandbox start --help` at build time to fill the compile cache: import every
    // part a start may load, so no Pod strips TypeScript at its first start (the stripper alone is
    // ~30 MiB of the memory budget).
    await Promise.all(PART_MODULES.map((p) => p.load()));
    process.stdout.write(startUsage());
    return 0;
  }
  const file = flags.configPath ? readConfigFileText(flags.configPath) : null;
  const settings = resolveSettings(file?.patch ?? {}, flags);
  const log = createLogger(settings.logLevel);
  let phase: Phase = 'starting';

  const metrics = new DatapathMetrics();
  const status = new StatusRegistry();
  let lastAuditError: string | null = null;
  const writer = new AuditWriter({
    path: settings.auditPath,
    sandbox: settings.name,
    maxBytes: settings.auditMaxBytes,
    maxFiles: settings.auditMaxFiles,
    onWrite(records, ok) {
      if (ok) {
        metrics.auditRecords(records);
        return;
      }
      metrics.auditWriteErrors.inc();
      if (writer.status.lastError !== lastAuditError) {
        lastAuditError = writer.status.lastError;
        log.error('audit write failed', { path: settings.auditPath, error: lastAuditError });
      }
    },
  });
  const policy = new CurrentPolicy(settings.egress.rules, settings.egress.defaultAction);
  const resolver: Resolver =
    settings.hostsFile !== null ? new HostsFileResolver(settings.hostsFile) : new SystemResolver();
  const dialer = new RoutingDialer(new DirectDialer());
  const tracker = new ConnectionTracker();
  const stats = new EgressStats();
  const deps: ProxyDeps = {
    policy,
    resolver,
    dialer,
    audit: writer,
    failClosed: settings.auditFailClosed,
    limits: {
      handshakeMs: settings.handshakeTimeoutMs,
      dialMs: settings.dialTimeoutMs,
      idleMs: settings.idleTimeoutMs,
      maxConnections: settings.maxConnections,
    },
    tracker,
    timeouts: new Timeouts(tickFor(settings.handshakeTimeoutMs, settings.idleTimeoutMs)),
    metrics,
    stats,
    log,
    draining: () => phase !== 'running',
  };

  // Open connections the policy in force no longer allows are closed (and audited as policy-revoked).
  policy.onChange((p) => {
    const now = Date.now();
    let closed = 0;
    for (const c of tracker.all()) {
      if (c.dir !== 'egress') continue;
      if (p.decide(c.host, c.addresses, c.port, now).action === 'deny') {
        c.close('policy-revoked');
        closed++;
      }
    }
    if (closed > 0) {
      metrics.closedByPolicy.inc(closed);
      log.info('closed connections the new policy forbids', { closed });
    }
    scheduleExpiry();
  });
  let expiryTimer: NodeJS.Timeout | null = null;
  const scheduleExpiry = () => {
    if (expiryTimer !== null) clearTimeout(expiryTimer);
    expiryTimer = null;
    const next = policy.get().nextExpiry(Date.now());
    if (next === null) return;
    expiryTimer = setTimeout(
      () => policy.recheck(),
      Math.min(Math.max(next - Date.now() + 1, 0), 2 ** 31 - 1),
    );
    expiryTimer.unref();
  };
  scheduleExpiry();

  let reloads = 0;
  let lastReload: { time: string; source: string; ok: boolean; error?: string } | null = null;
  const applyDocument = (patch: SettingsPatch, source: string) => {
    const rules = [...(flags.allowRules ?? []), ...(flags.denyRules ?? []), ...(patch.specRules ?? [])];
    const defaultAction = patch.defaultAction ?? flags.defaultAction ?? 'deny';
    const before = tracker.size;
    policy.replace(rules, defaultAction);
    if (patch.logLevel !== undefined) log.setLevel(patch.logLevel);
    reloads++;
    metrics.policyReloads.inc({ result: 'ok' });
    lastReload = { time: new Date().toISOString(), source, ok: true };
    log.info('policy replaced', { source, rules: rules.length, defaultAction });
    return {
      rules: rules.length,
      defaultAction,
      generation: policy.generation,
      openBefore: before,
      openAfter: tracker.size,
    };
  };
  const applyText = (text: string, source: string) => {
    try {
      return applyDocument(parseConfigText(text, source), source);
    } catch (e) {
      metrics.policyReloads.inc({ result: 'error' });
      lastReload = {
        time: new Date().toISOString(),
        source,
        ok: false,
        error: e instanceof Error ? e.message : String(e),
      };
      log.warn('policy reload rejected; the previous policy stays', { source, error: lastReload.error });
      throw e;
    }
  };

  const proxy = new ProxyServer(deps);
  const proxyBound = await proxy.listen(settings.proxyAddr.host, settings.proxyAddr.port);
  // With an overlay (enrolled, or --wg-config) forwards listen only on the overlay address, where the
  // overlay part starts them. Only a standalone datapath listens locally: binding the Pod's loopback
  // as well would take the agent's own port (`--forward 8080:127.0.0.1:8080`).
  const overlay = settings.serverUrl !== null || settings.extra['wg-config'] !== undefined;
  const forwarders: Forwarder[] = [];
  for (const f of overlay ? [] : settings.forwards) {
    const fw = new Forwarder(f, deps, dialer, resolver);
    await fw.start(new TcpStreamListener(f.listen, f.port));
    forwarders.push(fw);
  }
  const health = new HealthServer({
    status,
    metrics,
    log,
    adminToken: readAdminToken(settings, log),
    applyConfig: applyText,
  });
  const healthBound = await health.listen(settings.healthAddr.host, settings.healthAddr.port);

  const own: OwnListener[] = [];
  const addOwn = (host: string, port: number) => {
    const a = parseAddressLiteral(host);
    if (a !== null) own.push({ address: a, port });
  };
  addOwn(proxyBound.address, proxyBound.port);
  addOwn(healthBound.address, healthBound.port);
  for (const fw of forwarders) {
    const [h, p] = [
      fw.bound!.slice(0, fw.bound!.lastIndexOf(':')),
      Number(fw.bound!.slice(fw.bound!.lastIndexOf(':') + 1)),
    ];
    addOwn(h, p);
  }
  policy.setOwnListeners(own, localAddresses());

  const startedAt = new Date().toISOString();
  status.section('sandbox', () => ({
    name: settings.name,
    mode: settings.serverUrl === null ? 'standalone' : 'enrolled',
    phase,
    startedAt,
    pid: process.pid,
  }));
  status.section('proxy', () => ({
    listen: `${proxyBound.address}:${proxyBound.port}`,
    openClients: proxy.openClients,
    activeConnections: tracker.all().filter((c) => c.dir === 'egress').length,
    maxConnections: settings.maxConnections,
  }));
  status.section('egress', () => ({
    allowed: stats.allowed,
    denied: stats.denied,
    recentDenials: stats.recentDenials(),
    defaultAction: policy.get().defaultAction,
    rules: policy.get().rules.map((r) => r.text),
    generation: policy.generation,
    reloads,
    lastReload,
  }));
  status.section('forwards', () =>
    forwarders.map((f) => ({
      port: f.spec.port,
      listen: f.bound,
      target: `${f.spec.targetHost}:${f.spec.targetPort}`,
      allowFrom: f.spec.allowFrom,
      ...f.counters,
    })),
  );
  status.section('audit', () => ({ ...writer.status, failClosed: settings.auditFailClosed }));
  status.readiness('proxy', () => ({ ready: phase === 'running', detail: phase }));
  status.readiness('audit', () =>
    writer.status.healthy || !settings.auditFailClosed
      ? { ready: true }
      : { ready: false, detail: writer.status.lastError ?? 'audit unavailable' },
  );

  const dp: Datapath = { settings, log, policy, dialer, resolver, status, metrics, tracker, deps };
  const running: RunningPart[] = [];
  for (const m of PART_MODULES) if (m.when(settings)) await m.load();
  for (const p of registeredParts()) {
    const r = await p.start(dp);
    if (r !== undefined) running.push(r);
  }

  // Signal handlers go in before "ready" is announced: stdout to a pipe is written synchronously,
  // so a supervisor may signal the moment it reads the line, and a signal without a handler kills.
  let stopWatching = () => {};
  const { promise: exited, resolve: resolveExit } = Promise.withResolvers<number>();
  const shutdown = async (signal: string) => {
    if (phase === 'draining' || phase === 'stopped') {
      log.warn('second signal: exiting now', { signal });
      writer.flushNow(); // the close records still waiting for their write
      process.exit(2);
    }
    phase = 'draining';
    log.info('draining', { signal, open: tracker.size, timeoutMs: settings.drainTimeoutMs });
    void proxy.stopAccepting();
    for (const f of forwarders) void f.stopAccepting();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      tracker.whenEmpty(),
      new Promise((r) => (timer = setTimeout(r, settings.drainTimeoutMs))),
    ]);
    clearTimeout(timer);
    for (const c of tracker.all()) c.close('shutdown');
    await Promise.race([tracker.whenEmpty(), new Promise((r) => setTimeout(r, 1000))]);
    for (const r of running.reverse())
      await r.stop().catch((e) => log.warn('part stop failed', { error: String(e) }));
    stopWatching();
    writer.close();
    await health.close();
    phase = 'stopped';
    log.info('stopped', { auditRecords: writer.status.records });
    resolveExit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // One reload path for SIGHUP, the file watcher and the admin endpoint: applyText validates the
  // whole document before anything changes; a rejected one is logged and the policy in force stays.
  const reloadText = (text: string, why: string) => {
    try {
      applyText(text, `config file ${settings.configPath} (${why})`);
    } catch {
      // logged and counted by applyText; the previous policy stays
    }
  };
  // The operator projects the config through a downwardAPI volume that the kubelet updates by
  // swapping a symlink: watched so a changed rule applies without a signal (config/watch.ts).
  const watcher =
    settings.configPath === null || file === null
      ? null
      : new ConfigWatcher({
          path: settings.configPath,
          initialText: file.text,
          onChange: (text, forced) => reloadText(text, forced ? 'SIGHUP' : 'changed'),
          onReadError: (error) =>
            log.warn('config file cannot be read; the policy in force stays', {
              path: settings.configPath,
              error,
            }),
        }).start();
  stopWatching = () => watcher?.stop();
  process.on('SIGHUP', () => {
    if (watcher === null) log.warn('SIGHUP without --config: nothing to reload');
    else watcher.forceCheck();
  });

  phase = 'running';
  process.stdout.write(
    `${JSON.stringify({
      event: 'ready',
      name: settings.name,
      proxy: `${proxyBound.address}:${proxyBound.port}`,
      health: `${healthBound.address}:${healthBound.port}`,
      forwards: forwarders.map((f) => f.bound),
      audit: settings.auditPath,
    })}\n`,
  );
  log.info('datapath running', {
    proxy: proxyBound,
    health: healthBound,
    rules: settings.egress.rules.length,
  });

  return exited;
}
