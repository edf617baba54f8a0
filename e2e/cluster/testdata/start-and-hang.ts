// Fixture for cluster.e2e.test.ts: starts a cluster, prints what it runs, then waits to be killed.
import { inspectCluster, startCluster } from '../index.ts';

const c = await startCluster({ withControllerManager: false });
console.log(JSON.stringify({ dir: c.dir, ...inspectCluster(c.dir) }));
setInterval(() => {}, 60_000);
