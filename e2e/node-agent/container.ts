// One container of a Pod as a local process: started inside the Pod's network namespace (see
// launch.ts), restarted by the restart policy with a capped exponential back-off, probed
// (startup, then liveness and readiness), stopped with SIGTERM and, after the grace period, SIGKILL.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { V1Container, V1Probe } from '@kubernetes/client-node';
import { ContainerConfigError } from './env.ts';
import type { ContainerRole, ContainerView, RunState } from './pod-status.ts';
import { ProbeState, timing } from './probe.ts';

/** What a container needs from its Pod. */
export interface ContainerHost {
  netns: string;
  podIP: string;
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  logFile(container: string): string;
  /** builds the launch script (argv, env, mounts, user); throws ContainerConfigError or ImageNotMapped */
  prepare(c: V1Container): Promise<{ script: string; env: Record<string, string> }>;
  changed(): void;
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;

type Terminated = Extract<RunState, { kind: 'terminated' }>;

export class ContainerRunner {
  readonly spec: V1Container;
  readonly view: ContainerView;
  readonly #host: ContainerHost;
  #child: ChildProcess | undefined;
  #stopping = false;
  #timers: NodeJS.Timeout[] = [];
  #backoffMs = BACKOFF_MIN_MS;
  #killReason: string | undefined;
  #loop: Promise<void> | undefined;
  #waiters: (() => void)[] = [];
  #sleeps = new Set<() => void>();

  constructor(spec: V1Container, role: ContainerRole, host: ContainerHost) {
    this.spec = spec;
    this.#host = host;
    this.view = {
      name: spec.name,
      image: spec.image ?? '',
      role,
      state: { kind: 'waiting', reason: 'PodInitializing' },
      restartCount: 0,
      started: false,
      ready: false,
      final: false,
    };
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Resolves once the container started (startup probe passed) or ended for good. */
  async untilStarted(): Promise<void> {
    while (
      !(this.view.started && this.view.state.kind === 'running') &&
      !this.view.final &&
      !this.#stopping
    ) {
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  /** Resolves once the container ended for good (init containers). */
  async untilFinal(): Promise<void> {
    while (!this.view.final && !this.#stopping) await new Promise<void>((r) => this.#waiters.push(r));
  }

  #changed(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const r of w) r();
    this.#host.changed();
  }

  #set(state: RunState): void {
    this.view.state = state;
    this.#changed();
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      let prepared: { script: string; env: Record<string, string> };
      try {
        prepared = await this.#host.prepare(this.spec);
      } catch (err) {
        const e = err as Error;
        const reason = e instanceof ContainerConfigError ? 'CreateContainerConfigError' : (e.name ?? 'Error');
        this.#set({ kind: 'waiting', reason, message: e.message });
        await this.#sleep(this.#nextBackoff());
        continue;
      }
      const exit = await this.#runProcess(prepared);
      if (this.#stopping) break;
      this.view.lastTerminated = exit;
      if (this.#isFinal(exit)) {
        this.view.final = true;
        this.#set(exit);
        break;
      }
      this.view.restartCount++;
      const wait = this.#nextBackoff();
      this.#set({
        kind: 'waiting',
        reason: 'CrashLoopBackOff',
        message: `back-off ${wait} ms restarting failed container ${this.spec.name}`,
      });
      await this.#sleep(wait);
    }
  }

  #isFinal(exit: Terminated): boolean {
    const policy = this.view.role === 'sidecar' ? 'Always' : this.#host.restartPolicy;
    if (this.view.role === 'init') return exit.exitCode === 0 || policy === 'Never';
    if (policy === 'Always') return false;
    if (policy === 'OnFailure') return exit.exitCode === 0;
    return true;
  }

  #nextBackoff(): number {
    const ms = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, BACKOFF_MAX_MS);
    return ms;
  }

  /** A back-off wait that stop() cuts short. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.#sleeps.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.#sleeps.add(done);
    });
  }

  #runProcess(p: { script: string; env: Record<string, string> }): Promise<Terminated> {
    return new Promise((resolve) => {
      const out = openSync(this.#host.logFile(this.spec.name), 'a', 0o600);
      const startedAt = new Date();
      const child = spawn(
        'setpriv',
        ['--pdeathsig', 'KILL', '--', 'ip', 'netns', 'exec', this.#host.netns, 'sh', '-c', p.script],
        {
          stdio: ['ignore', out, out],
          env: p.env,
        },
      );
      closeSync(out); // the child has its own copy
      this.#child = child;
      this.#killReason = undefined;
      child.once('error', () => {});
      child.once('spawn', () => {
        this.view.pid = child.pid;
        this.view.started = !this.spec.startupProbe;
        this.view.ready = this.view.started && !this.spec.readinessProbe;
        this.#set({ kind: 'running', startedAt });
        this.#startProbes();
      });
      child.once('exit', (code, signal) => {
        this.#stopProbes();
        this.#child = undefined;
        this.view.started = false;
        this.view.ready = false;
        this.view.pid = undefined;
        const exitCode = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
        if (exitCode === 0) this.#backoffMs = BACKOFF_MIN_MS;
        resolve({
          kind: 'terminated',
          exitCode,
          signal: signal ?? undefined,
          reason: this.#killReason ?? (exitCode === 0 ? 'Completed' : 'Error'),
          startedAt,
          finishedAt: new Date(),
        });
      });
    });
  }

  #probeLoop(probe: V1Probe, onResult: (ok: boolean) => void): void {
    const t = timing(probe);
    const tick = async () => {
      if (!this.#child) return;
      const ok = await runProbe(probe, this.#host.podIP, this.spec, this.#host.netns, t.timeoutMs);
      if (!this.#child) return;
      onResult(ok);
      this.#timers.push(setTimeout(tick, t.periodMs));
    };
    this.#timers.push(setTimeout(tick, t.initialDelayMs));
  }

  #startProbes(): void {
    const afterStarted = () => {
      if (this.spec.readinessProbe) {
        const readiness = new ProbeState(timing(this.spec.readinessProbe));
        this.#probeLoop(this.spec.readinessProbe, (ok) => {
          if (readiness.record(ok)) {
            this.view.ready = readiness.result === 'success';
            this.#changed();
          }
        });
      } else {
        this.view.ready = true;
        this.#changed();
      }
      if (this.spec.livenessProbe) {
        const liveness = new ProbeState(timing(this.spec.livenessProbe), 'success');
        this.#probeLoop(this.spec.livenessProbe, (ok) => {
          if (liveness.record(ok) && liveness.result === 'failure') this.#kill('LivenessProbeFailed');
        });
      }
    };
    if (this.spec.startupProbe) {
      const startup = new ProbeState(timing(this.spec.startupProbe));
      this.#probeLoop(this.spec.startupProbe, (ok) => {
        if (!startup.record(ok)) return;
        if (startup.result === 'success' && !this.view.started) {
          this.view.started = true;
          this.#changed();
          // the startup probe's job is done
          this.#stopProbes();
          afterStarted();
        } else if (startup.result === 'failure') this.#kill('StartupProbeFailed');
      });
    } else afterStarted();
  }

  #stopProbes(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
  }

  #kill(reason: string): void {
    this.#killReason = reason;
    this.#child?.kill('SIGKILL');
  }

  /** SIGTERM, SIGKILL after graceMs; resolves when the process is gone. */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    for (const wake of [...this.#sleeps]) wake();
    this.#changed();
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    }
    this.#stopProbes();
    await this.#loop;
  }
}

function resolvePort(port: number | string | undefined, c: V1Container): number {
  if (typeof port === 'number') return port;
  if (port !== undefined && /^\d+$/.test(port)) return Number(port);
  const named = c.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`probe port ${port} is not a container port`);
  return named.containerPort;
}

/** One check: HTTP 200–399, a TCP connect, or an exec exit code 0 within timeoutMs. */
export async function runProbe(
  probe: V1Probe,
  podIP: string,
  c: V1Container,
  netns: string,
  timeoutMs: number,
): Promise<boolean> {
  try {
    if (probe.httpGet) {
      const g = probe.httpGet;
      const url = `${(g.scheme ?? 'HTTP').toLowerCase()}://${g.host ?? podIP}:${resolvePort(g.port as number | string, c)}${g.path ?? '/'}`;
      const headers = Object.fromEntries((g.httpHeaders ?? []).map((h) => [h.name, h.value]));
      return await new Promise<boolean>((resolve) => {
        const req = (url.startsWith('https') ? httpsRequest : httpRequest)(
          url,
          { headers, timeout: timeoutMs, rejectUnauthorized: false },
          (res) => {
            res.resume();
            resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
          },
        );
        req.on('timeout', () => req.destroy());
        req.on('error', () => resolve(false));
        req.end();
      });
    }
    if (probe.tcpSocket) {
      const port = resolvePort(probe.tcpSocket.port as number | string, c);
      return await new Promise<boolean>((resolve) => {
        const s = connect({ host: probe.tcpSocket!.host ?? podIP, port, timeout: timeoutMs });
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('timeout', () => {
          s.destroy();
          resolve(false);
        });
        s.once('error', () => resolve(false));
      });
    }
    if (probe.exec?.command) {
      const cmd = probe.exec.command;
      return await new Promise<boolean>((resolve) => {
        execFile('ip', ['netns', 'exec', netns, ...cmd], { timeout: timeoutMs }, (err) => resolve(!err));
      });
    }
    return false;
  } catch {
    return false;
  }
}
