// Reads a wg-quick file from disk and turns it into what WireGuardDevice.open() takes, resolving
// Endpoint host names once (as wg-quick does). The adapter half of wg-quick-config.ts.
import { lookup } from 'node:dns/promises';
import { readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { PeerConfig } from './core.ts';
import type { DeviceOptions } from './device.ts';
import { parseWgQuickConfig, type WgQuickConfig, WgQuickConfigError } from './wg-quick-config.ts';

export interface LoadedWgQuickConfig {
  config: WgQuickConfig;
  device: Pick<DeviceOptions, 'privateKey' | 'listenPort' | 'peers'>;
  /** Things worth a log line: ignored keys, a file others can read. Never contain key material. */
  warnings: string[];
}

export async function loadWgQuickConfig(path: string): Promise<LoadedWgQuickConfig> {
  const text = await readFile(path, 'utf8');
  const config = parseWgQuickConfig(text, path);
  const warnings = config.ignored.map(
    (x) => `${path}:${x.line}: ${x.key} is a wg-quick host setting; ignored`,
  );
  const mode = (await stat(path)).mode & 0o077;
  if (mode !== 0) warnings.push(`${path} holds a private key but is readable by others (chmod 600 it)`);
  const peers: PeerConfig[] = [];
  for (const p of config.peers) {
    let endpoint: PeerConfig['endpoint'] = null;
    if (p.endpoint) {
      let address = p.endpoint.host;
      if (isIP(address) === 0) {
        try {
          address = (await lookup(address)).address;
        } catch {
          throw new WgQuickConfigError(
            path,
            p.line,
            '[Peer] Endpoint',
            `cannot resolve ${JSON.stringify(address)}`,
          );
        }
      }
      endpoint = { address, port: p.endpoint.port };
    }
    peers.push({
      publicKey: p.publicKey,
      presharedKey: p.presharedKey,
      endpoint,
      allowedIps: p.allowedIps,
      persistentKeepalive: p.persistentKeepalive,
    });
  }
  return {
    config,
    device: { privateKey: config.privateKey, listenPort: config.listenPort, peers },
    warnings,
  };
}
