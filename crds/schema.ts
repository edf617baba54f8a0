// The one source of the LatticeSandbox API. `node crds/generate.ts` renders it into
// crds/latticesandbox.yaml (the CRD the apiserver validates with) and
// operator/api/v1alpha1/types.gen.ts (the types the operator compiles against);
// crds/generate.test.ts fails when either checked-in copy drifts from this file.
//
// Every string has a maxLength and every list a maxItems: the apiserver estimates the cost
// of each CEL rule from these bounds and refuses the CRD when a rule could run too long.
// Pure data, no I/O.

export type Schema = {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean';
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema;
  enum?: string[];
  default?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: {
    rule: string;
    message: string;
    messageExpression?: string;
    reason?: string;
  }[];
};

export const GROUP = 'lattice.io';
export const VERSION = 'v1alpha1';
export const KIND = 'LatticeSandbox';
export const PLURAL = 'latticesandboxes';
export const SINGULAR = 'latticesandbox';
export const SHORT_NAMES = ['sandboxes', 'sandbox', 'lsb'];
export const CATEGORIES = ['lattice'];

// Patterns, each anchored, each paired with a bound.
export const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$';
const HOST_OR_WILDCARD = '^(\\*\\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const PORT_OR_RANGE = '^[1-9][0-9]{0,4}(-[1-9][0-9]{0,4})?$';
// HOST:PORT where HOST is a DNS name, an IPv4 address, or a bracketed IPv6 address.
const HOST_PORT = '^(\\[[0-9a-fA-F:.]+\\]|[a-z0-9]([-a-z0-9.]*[a-z0-9])?):[1-9][0-9]{0,4}$';
const ABS_PATH = '^/[^\\x00]*$';
const QUANTITY = '^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$';
const DURATION = '^([0-9]{1,6}(h|m|s))+$';
const ENV_NAME = '^[-._a-zA-Z][-._a-zA-Z0-9]*$';

const str = (description: string, maxLength: number, extra: Partial<Schema> = {}): Schema => ({
  type: 'string',
  description,
  maxLength,
  ...extra,
});
const int = (description: string, minimum: number, maximum: number, extra: Partial<Schema> = {}): Schema => ({
  type: 'integer',
  description,
  minimum,
  maximum,
  ...extra,
});
const list = (description: string, items: Schema, maxItems: number, extra: Partial<Schema> = {}): Schema => ({
  type: 'array',
  description,
  items,
  maxItems,
  ...extra,
});
const obj = (
  description: string,
  properties: Record<string, Schema>,
  extra: Partial<Schema> = {},
): Schema => ({ type: 'object', description, properties, ...extra });

const port = (description: string, extra: Partial<Schema> = {}) =>
  int(description, 1, 65535, {
    ...extra,
  });

// Strings that name a port or a range "LOW-HIGH", checked in words a person understands.
const portOrRange: Schema = str('A port ("443") or an inclusive port range ("8000-9000").', 11, {
  pattern: PORT_OR_RANGE,
  'x-kubernetes-validations': [
    {
      rule: "self.split('-').all(p, int(p) >= 1 && int(p) <= 65535)",
      message: 'ports must be between 1 and 65535',
    },
    {
      rule: "!self.contains('-') || int(self.split('-')[0]) <= int(self.split('-')[1])",
      message: 'a port range must be written LOW-HIGH with LOW <= HIGH (for example 8000-9000)',
    },
  ],
});

const cidr: Schema = str(
  'An IPv4 or IPv6 CIDR ("10.0.0.0/8", "fd00::/8"); a bare address means that one host.',
  64,
  {
    'x-kubernetes-validations': [
      {
        rule: 'isCIDR(self) || isIP(self)',
        message: 'must be an IPv4 or IPv6 CIDR such as 10.0.0.0/8 or fd00::/8, or a single IP address',
      },
    ],
  },
);

const quantity = (description: string) =>
  str(description, 32, {
    pattern: QUANTITY,
  });
const resourceList = (description: string): Schema =>
  obj(description, { cpu: quantity('CPU, e.g. 100m.'), memory: quantity('Memory, e.g. 64Mi.') });
const resources = (description: string, defaults?: unknown): Schema =>
  obj(
    description,
    {
      requests: resourceList('Minimum resources.'),
      limits: resourceList('Maximum resources.'),
    },
    defaults === undefined ? {} : { default: defaults },
  );

const keyRef = (what: string): Schema =>
  obj(
    `A key of a ${what} in the sandbox's namespace.`,
    {
      name: str(`The ${what} name.`, 253, { pattern: DNS_SUBDOMAIN }),
      key: str('The key.', 253, { pattern: '^[-._a-zA-Z0-9]+$' }),
      optional: { type: 'boolean', description: 'Whether the key may be missing.' },
    },
    { required: ['name', 'key'] },
  );

const agent = obj(
  'The agent container (Sidecar mode). Its network traffic leaves only through the datapath proxy.',
  {
    image: str('Container image of the agent.', 512, { minLength: 1 }),
    imagePullPolicy: str('When to pull the image.', 16, { enum: ['Always', 'IfNotPresent', 'Never'] }),
    command: list('Entrypoint override.', str('One argument.', 4096), 64),
    args: list('Arguments to the entrypoint.', str('One argument.', 4096), 256),
    env: list(
      'Environment variables. The proxy variables (ALL_PROXY, HTTPS_PROXY, HTTP_PROXY, NO_PROXY) are set by the operator and cannot be overridden.',
      obj(
        'One environment variable.',
        {
          name: str('Variable name.', 256, { pattern: ENV_NAME }),
          value: str('Literal value.', 32768),
          valueFrom: obj('Where the value comes from.', {
            secretKeyRef: keyRef('Secret'),
            configMapKeyRef: keyRef('ConfigMap'),
          }),
        },
        {
          required: ['name'],
          'x-kubernetes-validations': [
            {
              rule: '!(has(self.value) && has(self.valueFrom))',
              message: 'an env entry has either value or valueFrom, not both',
            },
            {
              rule: "!(self.name in ['ALL_PROXY', 'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'all_proxy', 'https_proxy', 'http_proxy', 'no_proxy'])",
              message: 'proxy variables are set by the operator and cannot be overridden',
            },
          ],
        },
      ),
      128,
      { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] },
    ),
    envFrom: list(
      'Whole Secrets or ConfigMaps as environment variables.',
      obj('One source.', {
        prefix: str('Prefix for every variable name.', 64, { pattern: ENV_NAME }),
        secretRef: obj(
          'A Secret.',
          { name: str('Secret name.', 253, { pattern: DNS_SUBDOMAIN }) },
          { required: ['name'] },
        ),
        configMapRef: obj(
          'A ConfigMap.',
          { name: str('ConfigMap name.', 253, { pattern: DNS_SUBDOMAIN }) },
          { required: ['name'] },
        ),
      }),
      16,
    ),
    ports: list(
      'Ports the agent listens on (informational; reach them through forwards).',
      obj(
        'One port.',
        {
          name: str('Port name.', 15, { pattern: DNS_LABEL }),
          containerPort: port('Port number.'),
          protocol: str('Protocol.', 8, { enum: ['TCP', 'UDP'], default: 'TCP' }),
        },
        { required: ['containerPort'] },
      ),
      32,
    ),
    resources: resources('Resources of the agent container.'),
  },
);

const egressRule = obj(
  'One egress rule. The most specific matching rule wins; at a tie Deny wins.',
  {
    cidr,
    host: str('A host name ("pypi.org") or a wildcard for its subdomains ("*.pypi.org"). Lowercase.', 253, {
      pattern: HOST_OR_WILDCARD,
    }),
    ports: list('Ports or port ranges; empty means every port.', portOrRange, 32),
    action: str('Allow or Deny.', 8, { enum: ['Allow', 'Deny'], default: 'Allow' }),
    expiresAt: str('After this time (RFC 3339) the rule no longer matches.', 64, {
      format: 'date-time',
      'x-kubernetes-validations': [
        {
          // format date-time makes self a CEL timestamp: the format check rejects non-timestamps,
          // this rejects the zero time and typos like year 0026.
          rule: "self > timestamp('2000-01-01T00:00:00Z')",
          message:
            'expiresAt must be an RFC 3339 timestamp after the year 2000, such as 2026-12-01T00:00:00Z',
        },
      ],
    }),
  },
  {
    'x-kubernetes-validations': [
      {
        rule: 'has(self.cidr) != has(self.host)',
        message: 'an egress rule names exactly one of cidr or host',
      },
    ],
  },
);

const forward = obj(
  'An inbound forward: overlay peers connecting to the sandbox overlay IP on port reach target in the Pod.',
  {
    port: port('Port on the overlay IP.'),
    target: str('HOST:PORT inside the Pod, e.g. 127.0.0.1:8080 or [::1]:8080.', 262, {
      pattern: HOST_PORT,
      'x-kubernetes-validations': [
        {
          rule: "int(self.substring(self.lastIndexOf(':') + 1)) <= 65535",
          message: 'the target port must be between 1 and 65535',
        },
      ],
    }),
    allowFrom: list(
      'Who may connect: agent names of other sandboxes or CIDRs. Empty means every overlay peer.',
      str('An agent name or a CIDR.', 64, {
        'x-kubernetes-validations': [
          {
            rule: `self.matches('${DNS_LABEL}') || isCIDR(self) || isIP(self)`,
            message: 'allowFrom entries are agent names (DNS-1123 labels) or CIDRs',
          },
        ],
      }),
      32,
    ),
  },
  { required: ['port', 'target'] },
);

const gvisor = obj(
  'GVisor mode: the agent binary runs under runsc and every packet it sends goes through the datapath.',
  {
    rootfs: obj(
      'The agent root filesystem (mounted read-only).',
      { hostPath: str('Host directory holding the rootfs.', 1024, { pattern: ABS_PATH }) },
      { required: ['hostPath'] },
    ),
    binary: str('Absolute path of the agent binary inside the rootfs.', 1024, { pattern: ABS_PATH }),
    args: list('Arguments to the binary.', str('One argument.', 4096), 64),
  },
  { required: ['rootfs', 'binary'] },
);

const spec = obj(
  'What the sandbox should be.',
  {
    agentName: str(
      'Name of the agent on the overlay; defaults to metadata.name. A DNS-1123 label. Cannot be changed.',
      63,
      {
        // A CEL rule instead of `pattern` so the rejection says what a DNS-1123 label is.
        'x-kubernetes-validations': [
          {
            rule: `self.matches('${DNS_LABEL}')`,
            message:
              'agentName must be a DNS-1123 label: lowercase letters, digits and dashes, starting and ending with a letter or digit',
          },
          { rule: 'self == oldSelf', message: 'agentName cannot be changed' },
        ],
      },
    ),
    mode: str(
      'Sidecar (agent in its own container, traffic through the proxy) or GVisor. Cannot be changed.',
      8,
      {
        enum: ['Sidecar', 'GVisor'],
        default: 'Sidecar',
        'x-kubernetes-validations': [
          {
            rule: 'self == oldSelf',
            message: 'mode cannot be changed; create a new sandbox instead',
          },
        ],
      },
    ),
    agent,
    enforcement: str(
      'Sidecar mode only. Cooperative: the agent is told to use the proxy. Fenced: an init container also drops its direct connections. Defaults to Cooperative.',
      16,
      { enum: ['Cooperative', 'Fenced'] },
    ),
    proxy: obj(
      'The SOCKS5 + HTTP CONNECT proxy on one loopback port.',
      { port: port('Proxy port.', { default: 1080 }) },
      {
        default: {},
      },
    ),
    egress: obj(
      'Outbound policy. Without rules everything is denied.',
      {
        defaultAction: str('What happens when no rule matches.', 8, {
          enum: ['Allow', 'Deny'],
          default: 'Deny',
        }),
        rules: list('Egress rules.', egressRule, 128),
      },
      { default: {} },
    ),
    forwards: list('Inbound forwards from overlay peers.', forward, 32, {
      'x-kubernetes-validations': [
        {
          rule: 'self.all(f, self.exists_one(g, g.port == f.port))',
          message: 'forward ports must be unique: each port may be forwarded once',
        },
      ],
    }),
    gvisor,
    enrollment: obj(
      'Enrollment of the datapath at the control plane.',
      {
        tokenTTL: str('How long a one-time enrollment token is valid, e.g. 1h or 30m.', 32, {
          pattern: DURATION,
          default: '1h',
        }),
      },
      { default: {} },
    ),
    datapath: obj(
      'The datapath container.',
      {
        image: str('Datapath image.', 512, {
          minLength: 1,
          default: 'ghcr.io/lattice-sandbox/datapath:0.1.0',
        }),
        healthPort: port('Port of /healthz, /readyz and /status.', { default: 15021 }),
        logLevel: str('Log level.', 8, { enum: ['debug', 'info', 'warn', 'error'], default: 'info' }),
        resources: resources('Resources of the datapath container.', {
          requests: { cpu: '100m', memory: '64Mi' },
          limits: { cpu: '200m', memory: '128Mi' },
        }),
      },
      { default: {} },
    ),
  },
  {
    'x-kubernetes-validations': [
      {
        rule: "self.mode != 'GVisor' || has(self.gvisor)",
        message: 'mode GVisor needs a gvisor block (rootfs.hostPath and binary)',
      },
      {
        rule: "self.mode == 'GVisor' || !has(self.gvisor)",
        message: 'the gvisor block is only allowed with mode GVisor',
      },
      {
        rule: "self.mode != 'Sidecar' || has(self.agent) && has(self.agent.image)",
        message: 'mode Sidecar needs agent.image',
      },
      {
        rule: "self.mode == 'Sidecar' || !has(self.enforcement)",
        message: 'enforcement applies to mode Sidecar only (GVisor is always kernel-isolated)',
      },
      {
        rule: "self.mode == 'Sidecar' || !has(self.agent)",
        message: 'the agent container is for mode Sidecar; in mode GVisor use gvisor.binary and gvisor.args',
      },
      {
        rule: 'has(self.agentName) == has(oldSelf.agentName)',
        message: 'agentName cannot be added or removed after creation',
      },
      {
        rule: '!has(self.proxy) || self.proxy.port != self.datapath.healthPort',
        message: 'proxy.port and datapath.healthPort must differ',
      },
    ],
  },
);

const time = (description: string) => str(description, 64, { format: 'date-time' });
const count = (description: string): Schema => ({ type: 'integer', description, minimum: 0 });

const condition = obj(
  'A condition in the standard Kubernetes shape.',
  {
    type: str('Ready, PodReady, Enrolled, OverlayConnected or EgressEnforced.', 316),
    status: str('True, False or Unknown.', 8, { enum: ['True', 'False', 'Unknown'] }),
    observedGeneration: count('The generation the condition was computed for.'),
    lastTransitionTime: time('When status last changed.'),
    reason: str('One CamelCase word.', 1024),
    message: str('For people.', 32768),
  },
  { required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'] },
);

const status = obj('What the sandbox is, as observed by the operator and reported by the datapath.', {
  observedGeneration: count('The spec generation this status describes.'),
  phase: str(
    'For people: Pending, Starting, Ready, Degraded, Terminating or Failed. Logic reads conditions.',
    16,
  ),
  agentName: str('The effective agent name (spec.agentName or metadata.name).', 63),
  conditions: list('Conditions.', condition, 16, {
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  }),
  podName: str('The sandbox Pod.', 253),
  podIP: str('The Pod IP.', 64),
  overlayIP: str('Overlay IP assigned at enrollment.', 64),
  publicKey: str('WireGuard public key (base64).', 64),
  enrollment: obj('Enrollment state.', {
    tokenSecret: str('Secret holding the one-time token.', 253),
    issuedAt: time('When the current token was issued.'),
    expiresAt: time('When the current token expires.'),
    consumedAt: time('When the token was used.'),
    enrolledAt: time('When the datapath enrolled.'),
  }),
  peers: obj('Overlay peers.', {
    total: count('Peers in the netmap.'),
    connected: count('Peers with a recent handshake.'),
    lastHandshakeTime: time('Most recent handshake with any peer.'),
  }),
  egress: obj('Egress counters.', {
    allowed: count('Connections allowed.'),
    denied: count('Connections denied.'),
    recentDenials: list(
      'The most recent denied destinations.',
      obj('A denied destination.', {
        dst: str('host:port or address:port.', 300),
        rule: str('The rule that denied it, or "default".', 300),
        count: count('How many times.'),
        last: time('Last time.'),
      }),
      10,
    ),
  }),
  audit: obj('Audit log state.', {
    records: count('Records written.'),
    lastRecordTime: time('Time of the last record.'),
    streamed: count('Records acknowledged by the bus.'),
    healthy: { type: 'boolean', description: 'Whether audit writing works.' },
  }),
  datapath: obj('How the last poll of the datapath went.', {
    reachable: { type: 'boolean', description: 'Whether the last /status poll succeeded.' },
    lastPollTime: time('When the datapath was last polled.'),
    message: str('Why the poll failed, if it did.', 1024),
  }),
  bus: obj('The datapath on the message bus, as the control plane sees it.', {
    lastSeen: time('When the control plane last received a heartbeat from the datapath.'),
  }),
});

export const openAPIV3Schema: Schema = obj(
  'A sandboxed network for one AI agent: a Pod with the agent and a datapath that is its only way out and in.',
  {
    apiVersion: str('API version.', 64),
    kind: str('Kind.', 64),
    metadata: { type: 'object' },
    spec,
    status,
  },
  {
    required: ['spec'],
    'x-kubernetes-validations': [
      {
        rule: "self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
        message:
          'the sandbox name must be a DNS-1123 label: at most 63 lowercase letters, digits and dashes, starting and ending with a letter or digit',
      },
    ],
  },
);

export const printerColumns = [
  { name: 'Agent', type: 'string', jsonPath: '.status.agentName' },
  { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
  { name: 'Overlay IP', type: 'string', jsonPath: '.status.overlayIP' },
  { name: 'Peers', type: 'integer', jsonPath: '.status.peers.connected' },
  { name: 'Denied', type: 'integer', jsonPath: '.status.egress.denied' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

/** The CustomResourceDefinition object (apiextensions.k8s.io/v1). */
export function crd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: SHORT_NAMES,
        categories: CATEGORIES,
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: printerColumns,
          schema: { openAPIV3Schema },
        },
      ],
    },
  };
}
