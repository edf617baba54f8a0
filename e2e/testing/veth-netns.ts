// A network namespace joined to the root namespace by a veth pair: the "Pod" of the datapath's
// root tests (fence, gVisor mode). Needs root. Names are the caller's, so that they are unique
// per test run (interface names: at most 15 characters).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface VethNetnsOptions {
  /** the namespace's name */
  netns: string;
  /** the veth end that stays in the root namespace */
  hostIf: string;
  /** the veth end moved into the namespace */
  nsIf: string;
  /** both ends get a /30: hostIP on the host end, nsIP inside */
  hostIP: string;
  nsIP: string;
}

export interface VethNetns extends VethNetnsOptions {
  /** Deletes the namespace and the host end; never throws (either may be gone already). */
  remove(): Promise<void>;
}

/** Creates it all with lo up inside; on a failure, what was made is removed before the error. */
export async function createVethNetns(o: VethNetnsOptions): Promise<VethNetns> {
  const ip = async (...args: string[]) => {
    try {
      await exec('ip', args);
    } catch (e) {
      throw new Error(
        `ip ${args.join(' ')}: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`,
      );
    }
  };
  const remove = async () => {
    await ip('netns', 'del', o.netns).catch(() => {});
    await ip('link', 'del', o.hostIf).catch(() => {});
  };
  try {
    await ip('netns', 'add', o.netns);
    await ip('link', 'add', o.hostIf, 'type', 'veth', 'peer', 'name', o.nsIf);
    await ip('link', 'set', o.nsIf, 'netns', o.netns);
    await ip('addr', 'add', `${o.hostIP}/30`, 'dev', o.hostIf);
    await ip('link', 'set', o.hostIf, 'up');
    await ip('netns', 'exec', o.netns, 'ip', 'addr', 'add', `${o.nsIP}/30`, 'dev', o.nsIf);
    await ip('netns', 'exec', o.netns, 'ip', 'link', 'set', o.nsIf, 'up');
    await ip('netns', 'exec', o.netns, 'ip', 'link', 'set', 'lo', 'up');
  } catch (e) {
    await remove();
    throw e;
  }
  return { ...o, remove };
}
