// Runs the built kubectl; never throws for a non-zero exit (the caller decides what it means).
import { spawn } from 'node:child_process';

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

export function runKubectl(
  kubectl: string,
  kubeconfig: string,
  args: string[],
  input?: string,
): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectl, [`--kubeconfig=${kubeconfig}`, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, KUBECONFIG: kubeconfig },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d;
    });
    child.once('error', (err) => reject(new Error(`cannot run ${kubectl}: ${err.message}`)));
    child.once('close', (code, sig) => resolve({ stdout, stderr, code: code ?? (sig ? 128 : 1) }));
    // kubectl may exit without reading its input (a usage error); that is its answer, not ours
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** runKubectl that throws with kubectl's stderr on failure. */
export async function mustKubectl(
  kubectl: string,
  kubeconfig: string,
  args: string[],
  input?: string,
): Promise<string> {
  const r = await runKubectl(kubectl, kubeconfig, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}
