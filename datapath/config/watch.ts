// Watches the --config file and hands every new version to one callback (the same reload path
// SIGHUP and the admin endpoint use). Built for how the kubelet updates a projected volume
// (downwardAPI, ConfigMap, Secret):
//
//   dir/config.json -> ..data/config.json        (a symlink that never changes)
//   dir/..data      -> ..2026_11_28_23_40_01.123  (swapped atomically: new dir, symlink ..data_tmp, rename)
//
// The file's own path never sees an event (the link stays; what it points to is replaced), so
// the *directory* is watched (inotify reports the rename of ..data, and in-place writes or
// editor renames of a plain file too), events are debounced (a swap is several events), and the
// file is re-read through the link. Only a text different from the last one seen is handed over:
// a rejected text is reported once, not on every event, and the policy in force stays. A slow
// stat poll backs up inotify (file systems without it, a watch the kernel dropped).

import { type FSWatcher, readFileSync, statSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface ConfigWatchOptions {
  /** the --config path (may be a symlink, as in a projected volume) */
  readonly path: string;
  /** the text the datapath started with: only a different one is a change */
  readonly initialText: string;
  /** called with each new text (or any text, when forced); it validates and applies it, or rejects it and logs why */
  readonly onChange: (text: string, forced: boolean) => void;
  /** called when the file cannot be read (removed, permissions); the policy in force stays */
  readonly onReadError: (error: string) => void;
  readonly debounceMs?: number;
  readonly pollMs?: number;
}

export class ConfigWatcher {
  readonly #o: ConfigWatchOptions;
  #last: string;
  #lastReadError: string | null = null;
  #dirWatcher: FSWatcher | null = null;
  #debounce: NodeJS.Timeout | null = null;
  #poll: NodeJS.Timeout | null = null;
  #statKey = '';
  #stopped = false;

  constructor(o: ConfigWatchOptions) {
    this.#o = o;
    this.#last = o.initialText;
  }

  start(): this {
    const dir = dirname(this.#o.path);
    const name = basename(this.#o.path);
    try {
      this.#dirWatcher = watch(dir, { persistent: false }, (_event, file) => {
        // kubelet names: ..data, ..data_tmp, ..<timestamp>; our file itself; null when unknown
        if (file === null || file === name || file.startsWith('..')) this.#schedule();
      });
      this.#dirWatcher.on('error', () => {
        this.#dirWatcher?.close();
        this.#dirWatcher = null; // the poll below keeps working
      });
    } catch {
      this.#dirWatcher = null;
    }
    this.#statKey = this.#stat();
    this.#poll = setInterval(() => {
      const k = this.#stat();
      if (k !== this.#statKey) {
        this.#statKey = k;
        this.#schedule();
      }
    }, this.#o.pollMs ?? 5000);
    this.#poll.unref();
    // a change between the datapath's first read and now
    this.#schedule();
    return this;
  }

  /** Re-reads now (SIGHUP): hands over the text even if unchanged. */
  forceCheck(): void {
    this.#check(true);
  }

  stop(): void {
    this.#stopped = true;
    this.#dirWatcher?.close();
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    if (this.#poll !== null) clearInterval(this.#poll);
  }

  #stat(): string {
    try {
      const s = statSync(this.#o.path); // follows the links
      return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = null;
      this.#check(false);
    }, this.#o.debounceMs ?? 100);
    this.#debounce.unref();
  }

  #check(force: boolean): void {
    if (this.#stopped) return;
    let text: string;
    try {
      text = readFileSync(this.#o.path, 'utf8');
    } catch (e) {
      const msg = (e as NodeJS.ErrnoException).code ?? String(e);
      if (msg !== this.#lastReadError) {
        this.#lastReadError = msg;
        this.#o.onReadError(msg);
      }
      return;
    }
    this.#lastReadError = null;
    this.#statKey = this.#stat();
    if (!force && text === this.#last) return;
    this.#last = text;
    this.#o.onChange(text, force);
  }
}
