import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { FaultProxy, throughProxy } from './proxy.ts';

let echo: net.Server;
let echoPort = 0;
before(async () => {
  echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as net.AddressInfo).port;
});
after(() => echo.close());

const connect = (port: number) =>
  new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
const roundTrip = (s: net.Socket, text: string) =>
  new Promise<string>((resolve) => {
    s.once('data', (d) => resolve(d.toString()));
    s.write(text);
  });
const closed = (s: net.Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

test('forwards bytes both ways and cutAll drops open connections; new ones work again', async () => {
  const p = await FaultProxy.start({ host: '127.0.0.1', port: echoPort });
  try {
    const s = await connect(p.port);
    s.on('error', () => {});
    assert.equal(await roundTrip(s, 'hello'), 'hello');
    assert.equal(p.cutAll(), 1);
    await closed(s);
    const s2 = await connect(p.port);
    assert.equal(await roundTrip(s2, 'again'), 'again');
    s2.destroy();
    assert.equal(p.stats.cut, 1);
  } finally {
    await p.close();
  }
});

test('refuse resets new connections; stall forwards nothing until lifted', async () => {
  const p = await FaultProxy.start({ host: '127.0.0.1', port: echoPort });
  try {
    p.refuse(true);
    const err = await new Promise<unknown>((r) => {
      const s = net.connect(p.port, '127.0.0.1');
      s.once('error', r);
      s.once('close', () => r(undefined));
    });
    assert.ok(err === undefined || (err as NodeJS.ErrnoException).code === 'ECONNRESET', String(err));
    assert.equal(p.stats.refused, 1);
    p.refuse(false);
    p.stall(true);
    const s2 = await connect(p.port);
    let got = '';
    s2.on('data', (d) => {
      got += d;
    });
    s2.write('lost');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(got, '');
    p.stall(false);
    assert.equal(await roundTrip(s2, 'ok'), 'ok');
    s2.destroy();
  } finally {
    await p.close();
  }
});

test('stallOpen silences the open connections only', async () => {
  const p = await FaultProxy.start({ host: '127.0.0.1', port: echoPort });
  try {
    const old = await connect(p.port);
    assert.equal(await roundTrip(old, 'a'), 'a');
    assert.equal(p.stallOpen(), 1);
    let got = '';
    old.on('data', (d) => {
      got += d;
    });
    old.write('lost');
    const fresh = await connect(p.port);
    assert.equal(await roundTrip(fresh, 'fresh'), 'fresh');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(got, '');
    old.destroy();
    fresh.destroy();
  } finally {
    await p.close();
  }
});

test('throughProxy rewrites the server URL of a kubeconfig', () => {
  const kc = 'clusters:\n- cluster:\n    server: https://127.0.0.1:6443\n';
  assert.equal(
    throughProxy(kc, 'https://127.0.0.1:6443', 7000),
    'clusters:\n- cluster:\n    server: https://127.0.0.1:7000\n',
  );
  assert.throws(() => throughProxy(kc, 'https://10.0.0.1:6443', 7000));
});
