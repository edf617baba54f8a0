import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatAddress } from '../policy/address.ts';
import { HostsFileResolver, parseHostsFile, ResolveError } from './resolver.ts';

test('hosts files: every address of a name in order, comments and junk ignored, names canonical', () => {
  const m = parseHostsFile(
    '# c\n127.0.0.1 a.test B.Test.\n::1 a.test # v6\nnot-an-ip x.test\n10.0.0.1\tc.test\n',
  );
  assert.deepEqual(m.get('a.test')?.map(formatAddress), ['127.0.0.1', '::1']);
  assert.deepEqual(m.get('b.test')?.map(formatAddress), ['127.0.0.1']);
  assert.equal(m.has('x.test'), false);
  assert.deepEqual(m.get('c.test')?.map(formatAddress), ['10.0.0.1']);
});

test('the hosts-file resolver answers only from its file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lattice-hosts-'));
  try {
    writeFileSync(join(dir, 'hosts'), '192.0.2.7 known.test\n');
    const r = new HostsFileResolver(join(dir, 'hosts'));
    assert.deepEqual((await r.resolve('known.test')).map(formatAddress), ['192.0.2.7']);
    await assert.rejects(
      r.resolve('unknown.test'),
      (e: unknown) => e instanceof ResolveError && e.kind === 'not-found',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
