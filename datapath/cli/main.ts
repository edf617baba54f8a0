#!/usr/bin/env node

// `lattice`: the datapath's command line. Subcommands are dispatched through one table; a part that
// brings its own subcommand adds a row here (e.g. `wg` → datapath/wireguard/cli.ts).
//   node datapath/cli/main.ts sandbox start --name agent-001 ...

import { UsageError } from '../config/flags.ts';
import { ConfigError } from '../config/settings.ts';
import { RuleError } from '../policy/rule.ts';

export interface Command {
  /** words that select it, e.g. ['sandbox', 'start'] */
  readonly path: readonly string[];
  readonly summary: string;
  run(argv: readonly string[]): Promise<number> | number;
}

// Each command's module is imported only when it runs: `sandbox start` must not carry the
// WireGuard tool's crypto (sodium) in its memory, nor `wg genkey` the proxy.
export const COMMANDS: Command[] = [
  {
    path: ['sandbox', 'start'],
    summary: 'run the datapath (proxy, egress policy, audit, forwards, health)',
    run: async (argv) => (await import('./start.ts')).sandboxStart(argv),
  },
  {
    path: ['sandbox', 'fence'],
    summary: 'Fenced mode init: only the datapath uid may open connections (iptables)',
    run: async (argv) => (await import('../fence/cli.ts')).sandboxFence(argv),
  },
  {
    path: ['audit', 'verify'],
    summary: 'check the hash chain of audit files',
    run: async (argv) => (await import('./audit-verify.ts')).auditVerify(argv),
  },
  {
    path: ['wg'],
    summary: 'WireGuard keys: genkey, pubkey, genpsk (as wg prints them)',
    run: async (argv) => (await import('../wireguard/cli.ts')).wgCommand(argv),
  },
];

function usage(): string {
  const rows = COMMANDS.map((c) => `  lattice ${c.path.join(' ').padEnd(16)} ${c.summary}`);
  return `usage: lattice COMMAND [flags]\n\ncommands:\n${rows.join('\n')}\n\n'lattice COMMAND --help' documents each command's flags.\n`;
}

export async function main(argv: readonly string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(usage());
    return argv.length === 0 ? 64 : 0;
  }
  const cmd = COMMANDS.find((c) => c.path.every((w, i) => argv[i] === w));
  if (cmd === undefined) {
    process.stderr.write(`lattice: unknown command ${JSON.stringify(argv.join(' '))}\n\n${usage()}`);
    return 64;
  }
  try {
    return await cmd.run(argv.slice(cmd.path.length));
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError || e instanceof RuleError) {
      process.stderr.write(`lattice ${cmd.path.join(' ')}: ${e.message}\n`);
      return 64;
    }
    process.stderr.write(`lattice ${cmd.path.join(' ')}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`lattice: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
