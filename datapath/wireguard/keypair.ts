// One session's transport keys (whitepaper §5.4.6) with its counters and replay window. A peer holds
// up to three: previous (still accepted for in-flight packets), current (used to send), next (the
// responder's new session, used only once the initiator has sent on it: key confirmation).
import { zero } from './crypto/primitives.ts';
import type { SessionKeys } from './handshake.ts';
import { ReplayWindow } from './replay.ts';

export class Keypair {
  readonly sendKey: Buffer;
  readonly receiveKey: Buffer;
  readonly localIndex: number;
  readonly remoteIndex: number;
  readonly isInitiator: boolean;
  readonly createdAt: number;
  readonly replay = new ReplayWindow();
  sendCounter = 0;
  #zeroed = false;

  constructor(keys: SessionKeys, isInitiator: boolean, createdAt: number) {
    this.sendKey = keys.sendKey;
    this.receiveKey = keys.receiveKey;
    this.localIndex = keys.localIndex;
    this.remoteIndex = keys.remoteIndex;
    this.isInitiator = isInitiator;
    this.createdAt = createdAt;
  }

  get zeroed(): boolean {
    return this.#zeroed;
  }

  zero(): void {
    zero(this.sendKey);
    zero(this.receiveKey);
    this.#zeroed = true;
  }
}
