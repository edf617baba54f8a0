// The Node object this agent stands for: registered Ready with the bridge address as its
// InternalIP, kept alive by renewing its Lease in kube-node-lease (what the node lifecycle
// controller watches) and by refreshing the Ready condition, deleted when the agent stops.
import { isAlreadyExists, isNotFound } from '../../operator/runtime/errors.ts';
import type { KubeClient } from '../../operator/runtime/kube.ts';

export const NODE_LABEL = 'lattice.io/e2e-node-agent';
const LEASE_SECONDS = 40;

function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function readyStatus(nodeName: string, address: string, now: Date) {
  return {
    capacity: { cpu: '8', memory: '16Gi', pods: '250', 'ephemeral-storage': '50Gi' },
    allocatable: { cpu: '8', memory: '16Gi', pods: '250', 'ephemeral-storage': '50Gi' },
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'KubeletReady',
        message: 'lattice e2e node agent is posting ready status',
        lastHeartbeatTime: now.toISOString(),
        lastTransitionTime: now.toISOString(),
      },
    ],
    addresses: [
      { type: 'InternalIP', address },
      { type: 'Hostname', address: nodeName },
    ],
    nodeInfo: {
      machineID: '',
      systemUUID: '',
      bootID: '',
      kernelVersion: '',
      osImage: 'lattice e2e node agent (test infrastructure)',
      containerRuntimeVersion: 'lattice-node-agent://0.1.0',
      kubeletVersion: 'v0.0.0-lattice-e2e',
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: 'amd64',
    },
  };
}

export class NodeRegistration {
  readonly #client: KubeClient;
  readonly name: string;
  readonly #address: string;
  readonly #podCIDR: string;
  #timer: NodeJS.Timeout | undefined;

  constructor(client: KubeClient, name: string, address: string, podCIDR: string) {
    this.#client = client;
    this.name = name;
    this.#address = address;
    this.#podCIDR = podCIDR;
  }

  async register(): Promise<void> {
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: this.name,
        labels: {
          'kubernetes.io/hostname': this.name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          [NODE_LABEL]: 'true',
        },
      },
      spec: { podCIDR: this.#podCIDR, podCIDRs: [this.#podCIDR] },
    };
    try {
      await this.#client.request('POST', '/api/v1/nodes', { body: node });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    await this.#postStatus();
    await this.#renewLease();
    this.#timer = setInterval(() => {
      void this.#renewLease().catch(() => {});
      void this.#postStatus().catch(() => {});
    }, 10_000);
    this.#timer.unref();
  }

  async #postStatus(): Promise<void> {
    await this.#client.request('PATCH', `/api/v1/nodes/${this.name}/status`, {
      body: { status: readyStatus(this.name, this.#address, new Date()) },
      contentType: 'application/strategic-merge-patch+json',
    });
  }

  async #renewLease(): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.name}`;
    const spec = {
      holderIdentity: this.name,
      leaseDurationSeconds: LEASE_SECONDS,
      renewTime: microTime(new Date()),
    };
    try {
      await this.#client.request('PATCH', path, {
        body: { spec },
        contentType: 'application/merge-patch+json',
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.#client.request('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.name }, spec },
      });
    }
  }

  async deregister(): Promise<void> {
    clearInterval(this.#timer);
    for (const path of [
      `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.name}`,
      `/api/v1/nodes/${this.name}`,
    ]) {
      await this.#client.request('DELETE', path).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
    }
  }
}
