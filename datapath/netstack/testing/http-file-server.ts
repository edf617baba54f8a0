// Test infrastructure: a tiny HTTP server on the kernel's TCP, run inside a network namespace by the
// netstack interop tests and the overlay bench (`ip netns exec NS node http-file-server.ts HOST PORT FILE`).
//   GET  /       → the file (a `Range: bytes=A-B` header gets bytes A..B only, status 206)
//   POST /upload → `<sha256 hex> <bytes>` of the request body
//   GET  /hello  → a short text
// It prints `listening` once bound and exits when its stdin closes (so it dies with the test).
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';

const [host, port, file] = process.argv.slice(2);
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/') {
    const size = statSync(file).size;
    const m = /^bytes=([0-9]+)-([0-9]+)$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const end = m ? Math.min(Number(m[2]), size - 1) : size - 1;
    res.writeHead(m ? 206 : 200, {
      'content-length': String(end - start + 1),
      'content-type': 'application/octet-stream',
    });
    createReadStream(file, { start, end, highWaterMark: 256 * 1024 }).pipe(res);
    return;
  }
  if (req.method === 'POST' && req.url === '/upload') {
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (c: Buffer) => {
      h.update(c);
      n += c.length;
    });
    req.on('end', () => res.end(`${h.digest('hex')} ${n}`));
    return;
  }
  if (req.url === '/hello') {
    res.end('hello from the namespace\n');
    return;
  }
  res.writeHead(404).end();
});
server.keepAliveTimeout = 1000;
server.listen(Number(port), host, () => process.stdout.write('listening\n'));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
