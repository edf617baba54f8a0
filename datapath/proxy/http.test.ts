import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type HttpHead,
  isHttpError,
  parseAbsoluteUri,
  parseAuthority,
  parseHttpHead,
  rewriteForOrigin,
  sessionFromHeaders,
} from './http.ts';

const head = (text: string): HttpHead => {
  const r = parseHttpHead(Buffer.from(text));
  assert.ok(r !== null && !isHttpError(r), text);
  return r;
};

test('request heads parse; incomplete ones wait; bad ones get their status', () => {
  const h = head('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\nEARLY');
  assert.equal(h.method, 'CONNECT');
  assert.equal(h.rest.toString(), 'EARLY');
  assert.equal(parseHttpHead(Buffer.from('GET http://x/ HTTP/1.1\r\n')), null);
  assert.deepEqual(parseHttpHead(Buffer.from('get / HTTP/1.1\r\n\r\n')), {
    status: 400,
    why: 'malformed request line',
  });
  assert.equal((parseHttpHead(Buffer.alloc(20000, 0x41)) as { status: number }).status, 431);
  assert.equal(
    (parseHttpHead(Buffer.from('GET http://x/ HTTP/1.1\r\nno colon\r\n\r\n')) as { status: number }).status,
    400,
  );
});

test('authorities and absolute URIs', () => {
  assert.deepEqual(parseAuthority('[::1]:443', null), { host: '::1', port: 443 });
  assert.deepEqual(parseAuthority('a.b:80', null), { host: 'a.b', port: 80 });
  assert.equal(parseAuthority('a.b', null), null);
  assert.equal(parseAuthority('a.b:0', null), null);
  assert.equal(parseAuthority('user@a.b:80', null), null);
  assert.deepEqual(parseAbsoluteUri('http://Example.com?q=1'), {
    host: 'Example.com',
    port: 80,
    path: '/?q=1',
    authority: 'Example.com',
  });
  assert.equal(parseAbsoluteUri('https://x/'), null);
  assert.equal(parseAbsoluteUri('/relative'), null);
});

test('the origin request drops hop-by-hop and Connection-named headers and closes', () => {
  const h = head(
    'GET http://x:8080/a HTTP/1.1\r\nHost: x:8080\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nProxy-Authorization: Basic abc\r\nX-Lattice-Session: s1\r\nAccept: */*\r\nTransfer-Encoding: chunked\r\n\r\n',
  );
  const out = rewriteForOrigin(h, parseAbsoluteUri(h.target)!).toString();
  assert.equal(
    out,
    'GET /a HTTP/1.1\r\nHost: x:8080\r\nAccept: */*\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
  );
  assert.equal(sessionFromHeaders(h), 's1');
  const tp = head(
    'CONNECT x:1 HTTP/1.1\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n',
  );
  assert.equal(sessionFromHeaders(tp), '0af7651916cd43dd8448eb211c80319c');
});
