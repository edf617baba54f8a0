// The e2e node agent as a process (test infrastructure; `make demo` runs one):
//   node e2e/node-agent/main.ts --kubeconfig PATH [--namespace NS]... [--node-name NAME] [--log-level L]
// Prints one JSON line {nodeName, podCIDR, nodeIP} once the Node is registered; runs until SIGTERM
// or SIGINT, then stops its Pods' processes, removes their network namespaces and the Node.
import { parseArgs } from 'node:util';
import type { Level } from '../../operator/runtime/log.ts';
import { startNodeAgent } from './index.ts';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string', multiple: true },
    'node-name': { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
  },
  strict: true,
});
if (!values.kubeconfig) {
  console.error('node-agent: --kubeconfig is required');
  process.exit(2);
}
const level = values['log-level'] as Level;
if (!['debug', 'info', 'warn', 'error'].includes(level)) {
  console.error('node-agent: --log-level must be debug, info, warn or error');
  process.exit(2);
}
try {
  const agent = await startNodeAgent({
    kubeconfig: values.kubeconfig,
    namespaces: values.namespace,
    nodeName: values['node-name'],
    logLevel: level,
  });
  console.log(JSON.stringify({ nodeName: agent.nodeName, podCIDR: agent.podCIDR, nodeIP: agent.nodeIP }));
  let stopping = false;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      void agent.stop().finally(() => process.exit(0));
    });
  }
} catch (err) {
  console.error(`node-agent: ${(err as Error).message}`);
  process.exit(1);
}
