// `lattice wg genkey | pubkey` against the real `wg` (wireguard-tools), in both directions.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

const MAIN = new URL('../cli/main.ts', import.meta.url).pathname;
const lattice = (args: string[], input?: string) =>
  execFileSync(process.execPath, [MAIN, ...args], { input, encoding: 'utf8' });
const wg = (args: string[], input?: string) => execFileSync('wg', args, { input, encoding: 'utf8' });

test('lattice wg genkey | wg pubkey  ==  lattice wg genkey | lattice wg pubkey', () => {
  const key = lattice(['wg', 'genkey']);
  assert.match(key, /^[A-Za-z0-9+/]{43}=\n$/);
  assert.equal(lattice(['wg', 'pubkey'], key), wg(['pubkey'], key));
});

test('wg genkey | lattice wg pubkey  ==  wg genkey | wg pubkey', () => {
  for (let i = 0; i < 3; i++) {
    const key = wg(['genkey']);
    assert.equal(lattice(['wg', 'pubkey'], key), wg(['pubkey'], key));
  }
});

test('a malformed private key is refused with exit 1 and no output', () => {
  assert.throws(
    () => execFileSync(process.execPath, [MAIN, 'wg', 'pubkey'], { input: 'not a key\n', stdio: 'pipe' }),
    (e: { status: number; stdout: Buffer }) => e.status === 1 && e.stdout.length === 0,
  );
  assert.throws(
    () => execFileSync(process.execPath, [MAIN, 'wg', 'frobnicate'], { stdio: 'pipe' }),
    (e: { status: number }) => e.status === 64,
  );
});
