// `make cluster-up` / `make cluster-down`: the local control plane alone, left running in the
// background until `down`. State (pid files, certs, kubeconfigs, data): .lattice/cluster.
//   node e2e/cluster/cli.ts up|down|status [--dir DIR]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { downCluster, ensureCluster, exportLines, REPO_ROOT } from './persistent.ts';
import { supervisorAlive } from './reaper.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { dir: { type: 'string', default: join(REPO_ROOT, '.lattice', 'cluster') } },
});
const dir = values.dir;
const command = positionals[0];

try {
  if (command === 'up') {
    const t = Date.now();
    const { cluster, started } = await ensureCluster(dir);
    console.log(
      started
        ? `cluster started in ${((Date.now() - t) / 1000).toFixed(1)}s (state: ${dir})`
        : `cluster already running (state: ${dir})`,
    );
    console.log(`  apiserver  ${cluster.apiServerURL}`);
    console.log(`  nats       ${cluster.natsURL} (monitor ${cluster.natsMonitorURL})`);
    console.log(`  operator   kubeconfig ${cluster.operatorKubeconfig}`);
    console.log('  stop with  make cluster-down');
    console.log(`export LATTICE_NATS_URL=${cluster.natsURL}`);
    for (const line of exportLines(cluster)) console.log(line);
  } else if (command === 'down') {
    console.log(
      (await downCluster(dir)) ? `cluster stopped (${dir} removed)` : `no cluster was running in ${dir}`,
    );
  } else if (command === 'status') {
    const up = supervisorAlive(dir);
    console.log(up ? `cluster running (state: ${dir})` : `no cluster running in ${dir}`);
    process.exitCode = up ? 0 : 1;
  } else {
    console.error('usage: node e2e/cluster/cli.ts up|down|status [--dir DIR]');
    process.exitCode = 2;
  }
} catch (err) {
  const e = err as Error;
  console.error(`cluster ${command}: ${e.name}: ${e.message}`);
  process.exitCode = 1;
}
