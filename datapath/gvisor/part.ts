// The gVisor part of `lattice sandbox start --mode=gvisor`: builds the agent's namespace and TUN
// link, runs a netstack in intercept mode on it whose every TCP connection goes through the proxy's
// decision/audit/dial/relay code (ProxyConnection.startIntercepted, audit proto `transparent`),
// then starts the agent (runsc, or a plain process) in that namespace. The two lives are bound: the
// datapath stopping stops the agent (and --pdeathsig kills it and the link if the datapath dies);
// the agent's exit is logged and reported in /status (`gvisor.agent`).

import { existsSync, statSync } from 'node:fs';
import { registerDatapathPart } from '../cli/parts.ts';
import { ConfigError } from '../config/settings.ts';
import { formatAddress as formatBytes, parseAddress } from '../netstack/ip/address.ts';
import { NetstackRuntime } from '../netstack/runtime.ts';
import { ProxyConnection } from '../proxy/connection.ts';
import { AgentNamespace, AgentProcess } from './host.ts';
import { gvisorSettings } from './plan.ts';

registerDatapathPart('gvisor', async (dp) => {
  const g = gvisorSettings(dp.settings.extra, dp.settings.agentArgs);
  if (!existsSync(g.rootfs) || !statSync(g.rootfs).isDirectory())
    throw new ConfigError('--agent-rootfs', g.rootfs, 'is not a directory');
  if (!existsSync(`${g.rootfs}${g.binary}`))
    throw new ConfigError('--agent-binary', g.binary, `not found in the rootfs ${g.rootfs}`);
  const log = dp.log;
  const ns = new AgentNamespace();
  try {
    await ns.create();
  } catch (e) {
    await ns.destroy();
    throw e;
  }
  const n = ns.net;
  const runtime = new NetstackRuntime({
    addresses: [parseAddress(n.stackV4), parseAddress(n.stackV6)],
    send: (p) => ns.send(p),
    mtu: n.mtu,
    interceptAll: true,
  });
  ns.onPacket = (p) => runtime.receive(p);
  let intercepted = 0;
  let open = 0;
  // Asked on each SYN: a denied destination is refused with a RST (and audited) before any
  // handshake, so the agent sees "connection refused"; the limit below is checked on accept.
  const admit = (local: Uint8Array, port: number, remote: Uint8Array, remotePort: number) =>
    ProxyConnection.admitIntercepted(
      dp.deps,
      `${formatBytes(remote)}:${remotePort}`,
      formatBytes(local),
      port,
    );
  const listener = runtime.listenAll((s) => {
    // the same limit as the proxy port's clients: an agent cannot make the datapath hold unbounded
    // connections (each is a netstack connection with its buffers)
    if (open >= dp.deps.limits.maxConnections) {
      dp.metrics.rejected.inc({ reason: 'limit' });
      s.destroy();
      return;
    }
    open++;
    s.once('close', () => open--);
    intercepted++;
    const c = s.conn;
    const conn = new ProxyConnection(s, dp.deps, `${formatBytes(c.remoteAddress)}:${c.remotePort}`);
    conn.startIntercepted(formatBytes(c.localAddress), c.localPort);
  }, admit);
  const agent = new AgentProcess(
    g,
    ns,
    (stream, line) => log.info('agent output', { stream, line: line.slice(0, 4096) }),
    (st) => log.warn('agent exited', st),
  );
  agent.start();
  log.info('gvisor agent started', { netns: n.netns, tun: n.tun, runtime: g.runtime, binary: g.binary });
  dp.status.section('gvisor', () => ({
    runtime: g.runtime,
    rootfs: g.rootfs,
    binary: g.binary,
    netns: n.netns,
    tun: n.tun,
    agentAddresses: [n.agentV4, n.agentV6],
    link: { alive: ns.linkAlive, packetsFromAgent: ns.packetsIn, packetsToAgent: ns.packetsOut },
    interceptedConnections: intercepted,
    openConnections: open,
    agent: agent.status,
    netstack: runtime.stack.snapshot(),
  }));
  dp.status.readiness('gvisor-link', () =>
    ns.linkAlive ? { ready: true } : { ready: false, detail: 'the TUN link (socat) is down' },
  );
  return {
    async stop() {
      await agent.stop();
      listener.close();
      runtime.close();
      await ns.destroy();
    },
  };
});
