// `lattice sandbox fence`: the Fenced mode's init container. Installs, in the Pod's network
// namespace, the rules that let only the datapath's uid open connections (rules.ts), for IPv4 and
// IPv6, then exits. Needs CAP_NET_ADMIN (the init container only); idempotent, so a restarted
// init container just refreshes the rules.

import { ConfigError, parsePositiveInt } from '../config/settings.ts';
import { applyFence, FenceError } from './apply.ts';
import { type FenceSpec, fenceRestoreInput, validateFenceSpec } from './rules.ts';

const USAGE = `usage: lattice sandbox fence --datapath-uid UID --proxy-port PORT [flags]

Installs iptables/ip6tables rules in this network namespace so that only UID may open outbound
connections; every other process may reach only the proxy and health ports on loopback.

flags:
  --datapath-uid UID      the datapath's uid (required; not 0)
  --proxy-port PORT       the datapath's proxy port on loopback (required)
  --health-port PORT      the datapath's health port (default 15021)
  --dry-run               print the iptables-restore input instead of applying it
`;

export function parseFenceFlags(argv: readonly string[]): (FenceSpec & { dryRun: boolean }) | 'help' {
  const v: Record<string, string> = {};
  let dryRun = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') return 'help';
    if (a === '--dry-run') {
      dryRun = true;
      continue;
    }
    const m = /^--(datapath-uid|proxy-port|health-port)(?:=(.*))?$/.exec(a);
    if (m === null) throw new ConfigError('lattice sandbox fence', a, 'unknown flag (see --help)');
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new ConfigError(`--${m[1]}`, '', 'needs a value');
    v[m[1]] = value;
  }
  for (const f of ['datapath-uid', 'proxy-port'])
    if (v[f] === undefined) throw new ConfigError(`--${f}`, null, 'is required');
  const spec = {
    datapathUid: parsePositiveInt('--datapath-uid', v['datapath-uid'], 2 ** 32 - 2),
    proxyPort: parsePositiveInt('--proxy-port', v['proxy-port'], 65535),
    healthPort: parsePositiveInt('--health-port', v['health-port'] ?? '15021', 65535),
    dryRun,
  };
  const bad = validateFenceSpec(spec);
  if (bad !== null) throw new ConfigError('lattice sandbox fence', argv.join(' '), bad);
  return spec;
}

export async function sandboxFence(argv: readonly string[]): Promise<number> {
  const spec = parseFenceFlags(argv);
  if (spec === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (spec.dryRun) {
    process.stdout.write(`# iptables-restore --noflush\n${fenceRestoreInput(spec, 'ipv4')}`);
    process.stdout.write(`# ip6tables-restore --noflush\n${fenceRestoreInput(spec, 'ipv6')}`);
    return 0;
  }
  try {
    await applyFence(spec, 'ipv4');
    await applyFence(spec, 'ipv6');
  } catch (e) {
    if (e instanceof FenceError) {
      process.stderr.write(`lattice sandbox fence: ${e.message}\n`);
      return e.kind === 'failed' ? 1 : 69; // 69: EX_UNAVAILABLE (missing tool or privilege)
    }
    throw e;
  }
  process.stdout.write(
    `${JSON.stringify({ event: 'fenced', datapathUid: spec.datapathUid, proxyPort: spec.proxyPort, healthPort: spec.healthPort })}\n`,
  );
  return 0;
}
