// `lattice wg genkey | pubkey | genpsk`: the key commands of `wg`, with the same input and output
// (base64 keys, one per line), so either tool's keys work with the other.
import { genkey, genpsk, KeyFormatError, pubkey } from './keys.ts';

const USAGE = `usage: lattice wg genkey           print a new private key
       lattice wg pubkey < private   print the public key of the private key on stdin
       lattice wg genpsk           print a new preshared key
`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    if (chunks.reduce((n, b) => n + b.length, 0) > 4096) break; // a key is 45 bytes; never read forever
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function wgCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (rest.length > 0 || sub === undefined || sub === '--help' || sub === '-h') {
    (sub === '--help' || sub === '-h' ? process.stdout : process.stderr).write(USAGE);
    return sub === '--help' || sub === '-h' ? 0 : 64;
  }
  switch (sub) {
    case 'genkey':
      process.stdout.write(`${genkey()}\n`);
      return 0;
    case 'genpsk':
      process.stdout.write(`${genpsk()}\n`);
      return 0;
    case 'pubkey':
      try {
        process.stdout.write(`${pubkey(await readStdin())}\n`);
        return 0;
      } catch (e) {
        if (e instanceof KeyFormatError) {
          process.stderr.write('lattice wg pubkey: Key is not the correct length or format\n');
          return 1;
        }
        throw e;
      }
    default:
      process.stderr.write(`lattice wg: unknown subcommand ${JSON.stringify(sub)}\n${USAGE}`);
      return 64;
  }
}
