// Reads the static peers file named by a flag (the adapter around parseStaticPeers).
import { readFileSync } from 'node:fs';
import type { StaticPeer } from './netmap.ts';
import { parseStaticPeers, StaticPeersError } from './static-peers.ts';

export function loadStaticPeers(path: string | undefined): StaticPeer[] {
  if (!path) return [];
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new StaticPeersError(`static peers file ${path}: ${(err as Error).message}`);
  }
  return parseStaticPeers(text);
}
