// gVisor mode throughput (root): an agent in the datapath's agent namespace downloads 64 MiB from a
// server outside the Pod-like namespace, through TUN → socat → netstack (intercept) → proxy relay,
// once as a plain process and once in runsc; the comparison peer, in the same run, is sidecar
// mode (curl through the proxy port to the same server). Rate = bytes / duration of the audit
// close record.
//   node datapath/gvisor/gvisor.bench.ts
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { eventually } from '../../e2e/testing/eventually.ts';
import { createVethNetns, type VethNetns } from '../../e2e/testing/veth-netns.ts';
import { cleanupDir, readAudit, run, startDatapath } from '../cli/harness.ts';
import { busyboxRootfs } from './testing/rootfs.ts';

const SIZE = 64 * 1024 * 1024;
const tag = randomBytes(3).toString('hex');
const POD = `lgvb-${tag}`;
const o = randomBytes(1)[0];
const H = `10.234.${o}.1`;
const P = `10.234.${o}.2`;
const _sh = async (...a: string[]) => {
  const r = await run(a[0], a.slice(1));
  if (r.code !== 0) throw new Error(`${a.join(' ')}: ${r.stderr}`);
};

const rows: string[] = [];
const row = (what: string, rec: Record<string, unknown>) =>
  rows.push(
    `| ${what} | ${rec.bytesDown} | ${rec.durationMs} | ${(Number(rec.bytesDown) / 1e6 / (Number(rec.durationMs) / 1000)).toFixed(1)} |`,
  );
const chunk = Buffer.alloc(1 << 20, 7);
const srv = createServer((s) => {
  let n = 0;
  const w = () => {
    while (n < SIZE) {
      n += chunk.length;
      if (!s.write(chunk)) return void s.once('drain', w);
    }
    s.end();
  };
  s.on('error', () => {});
  w();
});
const rootfs = busyboxRootfs();
let pod: VethNetns | undefined;
try {
  pod = await createVethNetns({ netns: POD, hostIf: `lbh${tag}`, nsIf: `lbp${tag}`, hostIP: H, nsIP: P });
  await new Promise<void>((r) => srv.listen(0, H, r));
  const port = (srv.address() as { port: number }).port;
  for (const runtime of ['process', 'runsc']) {
    const dp = await startDatapath(
      [
        '--mode=gvisor',
        `--agent-rootfs=${rootfs}`,
        '--agent-binary=/bin/sh',
        '--agent-arg=-c',
        `--agent-arg=printf x | nc ${H} ${port} | wc -c`,
        `--agent-runtime=${runtime}`,
        '--egress-allow',
        `${H}:${port}`,
      ],
      {},
      ['ip', 'netns', 'exec', POD],
    );
    try {
      row(
        `gVisor mode, agent as ${runtime === 'runsc' ? 'runsc (gVisor)' : 'plain process'} (busybox nc)`,
        await eventually(
          'a close record',
          () => readAudit(dp.auditPath).find((r) => r.event === 'close'),
          180_000,
        ),
      );
    } finally {
      await dp.stop();
      cleanupDir(dp.dir);
    }
  }
  const dp = await startDatapath(['--egress-allow', `${H}:${port}`], {}, ['ip', 'netns', 'exec', POD]);
  try {
    await run('ip', [
      'netns',
      'exec',
      POD,
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '--max-time',
      '60',
      '--socks5',
      `127.0.0.1:${dp.proxy.port}`,
      `telnet://${H}:${port}`,
    ]);
    row(
      'peer: sidecar mode, curl --socks5 through the proxy',
      await eventually(
        'a close record',
        () => readAudit(dp.auditPath).find((r) => r.event === 'close'),
        60_000,
      ),
    );
  } finally {
    await dp.stop();
    cleanupDir(dp.dir);
  }
  console.log(`| path (64 MiB download) | bytes | ms | MB/s |\n|---|---|---|---|\n${rows.join('\n')}`);
} finally {
  srv.close();
  cleanupDir(rootfs);
  await pod?.remove();
}
