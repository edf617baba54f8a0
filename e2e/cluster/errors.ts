// Classified failures of the local control plane. Each says what is wrong and what to do,
// so a failed test run points at the cause (missing binary, taken port, crashed component).

export class ClusterError extends Error {
  override name = 'ClusterError';
}

/** A binary the cluster needs is not built or installed. */
export class MissingBinaryError extends ClusterError {
  override name = 'MissingBinaryError';
  readonly binary: string;
  readonly path: string;
  constructor(binary: string, path: string, hint: string) {
    super(`${binary} not found at ${path}: ${hint}`);
    this.binary = binary;
    this.path = path;
  }
}

/** A port a component must listen on is already bound by another process. */
export class PortTakenError extends ClusterError {
  override name = 'PortTakenError';
  readonly port: number;
  readonly component: string;
  constructor(component: string, flag: string, port: number) {
    super(`port 127.0.0.1:${port} (${component} ${flag}) is already in use by another process`);
    this.port = port;
    this.component = component;
  }
}

/** A component exited while it was starting or running. */
export class ComponentExitedError extends ClusterError {
  override name = 'ComponentExitedError';
  readonly component: string;
  constructor(component: string, how: string, logFile: string, logTail: string) {
    super(`${component} exited (${how}); last lines of ${logFile}:\n${logTail}`);
    this.component = component;
  }
}

/** A component kept running but never became healthy in time. */
export class HealthTimeoutError extends ClusterError {
  override name = 'HealthTimeoutError';
  readonly component: string;
  constructor(
    component: string,
    what: string,
    ms: number,
    lastError: string,
    logFile: string,
    logTail: string,
  ) {
    super(
      `${component} did not become healthy within ${ms} ms (${what}; last error: ${lastError}); last lines of ${logFile}:\n${logTail}`,
    );
    this.component = component;
  }
}
