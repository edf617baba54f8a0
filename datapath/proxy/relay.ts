// Moves bytes between two streams once a connection is decided: write, and pause the source when the
// destination's buffer is full until it drains (so a slow reader bounds memory at one buffer per
// direction); forward a FIN as a FIN (half-close); count bytes with one addition per chunk.
// Nothing else runs per chunk: policy and audit happen before and after, never in between.

import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { OwnedReads } from '../dial/owned-reads.ts';
import { noteRelayed } from './buffer-reclaim.ts';
import { idleWatch, type Timeouts, type Watch } from './timeouts.ts';

export type CloseReason =
  | 'client-closed'
  | 'upstream-closed'
  | 'client-error'
  | 'upstream-error'
  | 'idle-timeout'
  | 'policy-revoked'
  | 'audit-unavailable'
  | 'shutdown';

export class Relay {
  /** bytes from the client to the upstream */
  up = 0;
  /** bytes from the upstream to the client */
  down = 0;
  private reason: CloseReason | null = null;
  private closed = 0;
  private done = false;
  private idle: { timeouts: Timeouts; watch: Watch } | null = null;
  private readonly client: Duplex;
  private readonly upstream: Duplex;
  private readonly onDone: (r: Relay, reason: CloseReason) => void;
  private readonly upstreamReads: OwnedReads | null;

  /** `upstreamReads`: the upstream is a kernel socket read into owned buffers (dial/owned-reads.ts). */
  constructor(
    client: Duplex,
    upstream: Duplex,
    onDone: (r: Relay, reason: CloseReason) => void,
    upstreamReads: OwnedReads | null = null,
  ) {
    this.client = client;
    this.upstream = upstream;
    this.onDone = onDone;
    this.upstreamReads = upstreamReads;
  }

  /** Starts relaying; `first` are client bytes that arrived with the handshake. */
  start(first: Buffer | null): void {
    const c = this.client;
    const u = this.upstream;
    c.on('data', (chunk: Buffer) => {
      this.up += chunk.length;
      noteRelayed(chunk.length);
      if (!u.write(chunk)) c.pause();
    });
    u.on('drain', () => c.resume());
    const reads = this.upstreamReads;
    if (reads === null) {
      u.on('data', (chunk: Buffer) => {
        this.down += chunk.length;
        noteRelayed(chunk.length);
        if (!c.write(chunk)) u.pause();
      });
    } else {
      // Only a kernel socket's write is known to be done with the bytes once nothing is queued; any
      // other client stream (the netstack's, in gVisor mode) may keep views of them.
      const copiesAtOnce = c instanceof Socket;
      reads.attach((chunk) => {
        this.down += chunk.length;
        const more = c.write(chunk);
        if (!copiesAtOnce || c.writableLength !== 0) {
          reads.keep(); // the write still holds the chunk: the next read gets a new buffer
          noteRelayed(chunk.buffer.byteLength); // all of the kept buffer becomes garbage later
        }
        return more; // false: reading stops until the client drains (resume below)
      });
    }
    c.on('drain', () => u.resume());
    c.on('end', () => {
      this.reason ??= 'client-closed';
      u.end();
    });
    u.on('end', () => {
      this.reason ??= 'upstream-closed';
      c.end();
    });
    c.on('error', () => this.close('client-error'));
    u.on('error', () => this.close('upstream-error'));
    c.on('close', () => this.sideClosed(u));
    u.on('close', () => this.sideClosed(c));
    if (first !== null && first.length > 0) {
      this.up += first.length;
      if (!u.write(first)) c.pause();
    }
    c.resume();
    u.resume();
  }

  /** Closes both sides now (policy revoked, idle, shutdown, an error). */
  close(reason: CloseReason): void {
    this.reason ??= reason;
    this.client.destroy();
    this.upstream.destroy();
  }

  /** Closes the relay once no byte has moved either way for `idleMs`; unwatched when it closes. */
  closeWhenIdle(timeouts: Timeouts, idleMs: number): void {
    this.idle = {
      timeouts,
      watch: idleWatch(
        idleMs,
        timeouts.now(),
        () => this.up + this.down,
        () => this.done,
        () => this.close('idle-timeout'),
      ),
    };
    timeouts.watch(this.idle.watch);
  }

  get closeReason(): CloseReason | null {
    return this.reason;
  }

  private sideClosed(other: Duplex): void {
    this.closed++;
    // One side is gone for good: let the other flush what it was sent, then go too.
    if (!other.destroyed) {
      if (other.writableFinished || !other.writable) other.destroy();
      else {
        other.once('finish', () => other.destroy());
        other.end();
      }
    }
    if (this.closed === 2 && !this.done) {
      this.done = true;
      this.idle?.timeouts.unwatch(this.idle.watch);
      this.onDone(this, this.reason ?? 'client-closed');
    }
  }
}
