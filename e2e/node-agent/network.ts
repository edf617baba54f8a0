// Pod networking with iproute2: one Linux bridge per node agent carries the node's /24 (the
// bridge holds .1, the node's address as pods see it); each Pod gets a network namespace whose
// eth0 is one end of a veth pair plugged into the bridge. Pods reach each other and the node
// through the bridge; nothing is routed beyond it.
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class NetworkError extends Error {
  override name = 'NetworkError';
}

export async function ip(args: string[]): Promise<string> {
  try {
    return (await run('ip', args)).stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new NetworkError('ip (iproute2) not found on PATH');
    throw new NetworkError(`ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`);
  }
}

async function ipQuiet(args: string[]): Promise<void> {
  await ip(args).catch(() => {});
}

/** A /24 prefix under 10.244.0.0/16 that no local address or route uses yet. */
export async function pickPodSubnet(): Promise<string> {
  const used = (await ip(['-4', '-o', 'addr'])) + (await ip(['-4', 'route']));
  for (let i = 0; i < 50; i++) {
    const prefix = `10.244.${randomInt(0, 256)}`;
    if (!used.includes(`${prefix}.`)) return prefix;
  }
  throw new NetworkError('no free /24 left under 10.244.0.0/16');
}

export async function createBridge(name: string, gateway: string): Promise<void> {
  await ip(['link', 'add', name, 'type', 'bridge']);
  await ip(['addr', 'add', `${gateway}/24`, 'dev', name]);
  await ip(['link', 'set', name, 'up']);
}

export async function deleteBridge(name: string): Promise<void> {
  await ipQuiet(['link', 'del', name]);
}

export interface PodNet {
  netns: string;
  hostVeth: string;
  ip: string;
}

export async function createPodNetwork(p: PodNet, bridge: string, gateway: string): Promise<void> {
  await ip(['netns', 'add', p.netns]);
  try {
    await ip(['link', 'add', p.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p.netns]);
    await ip(['link', 'set', p.hostVeth, 'master', bridge, 'up']);
    await ip(['-n', p.netns, 'addr', 'add', `${p.ip}/24`, 'dev', 'eth0']);
    await ip(['-n', p.netns, 'link', 'set', 'lo', 'up']);
    await ip(['-n', p.netns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', p.netns, 'route', 'add', 'default', 'via', gateway]);
  } catch (err) {
    await deletePodNetwork(p);
    throw err;
  }
}

/** Deleting the namespace destroys its end of the veth pair, which destroys the other end. */
export async function deletePodNetwork(p: { netns: string; hostVeth: string }): Promise<void> {
  await ipQuiet(['netns', 'del', p.netns]);
  await ipQuiet(['link', 'del', p.hostVeth]);
}
