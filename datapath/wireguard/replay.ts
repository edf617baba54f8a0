// The receive counter window (RFC 6479 style bitmap, 2048 bits like wireguard-go): a counter is
// accepted once, and only if it is newer than the highest seen or within the window behind it, so
// reordering by up to ~2000 packets is tolerated while duplicates and old packets are refused.
// Checked only after the packet authenticated, so a forger cannot move the window.
const WORD_BITS = 32;
const WORDS = 64;
const BITS = WORDS * WORD_BITS;
/** How far behind the highest counter a packet may arrive (one word is kept as slack for the ring). */
export const REPLAY_WINDOW = BITS - WORD_BITS;

export type ReplayVerdict = 'ok' | 'duplicate' | 'too-old';

export class ReplayWindow {
  #words = new Uint32Array(WORDS);
  #last = 0;

  /** Accepts `counter` (and records it) or says why not. */
  check(counter: number): ReplayVerdict {
    if (counter > this.#last) {
      const word = Math.floor(counter / WORD_BITS);
      const lastWord = Math.floor(this.#last / WORD_BITS);
      const advance = Math.min(word - lastWord, WORDS);
      for (let i = 1; i <= advance; i++) this.#words[(lastWord + i) % WORDS] = 0;
      this.#last = counter;
    } else if (this.#last - counter >= REPLAY_WINDOW) {
      return 'too-old';
    }
    const index = Math.floor(counter / WORD_BITS) % WORDS;
    const bit = 1 << (counter % WORD_BITS);
    if ((this.#words[index] & bit) !== 0) return 'duplicate';
    this.#words[index] |= bit;
    return 'ok';
  }

  reset(): void {
    this.#words.fill(0);
    this.#last = 0;
  }
}
