// Client side of the supervisor's control socket (<dir>/supervisor.sock).
import { request } from 'node:http';
import { ClusterError } from './errors.ts';
import type { SupervisorState } from './plan.ts';

export function control(socketPath: string, method: 'GET' | 'POST', path: string): Promise<SupervisorState> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => {
        let parsed: SupervisorState & { error?: { name: string; message: string } };
        try {
          parsed = JSON.parse(body);
        } catch {
          return reject(
            new ClusterError(`supervisor answered ${method} ${path} with: ${body.slice(0, 200)}`),
          );
        }
        if (res.statusCode === 200) return resolve(parsed);
        const err = new ClusterError(parsed.error?.message ?? `supervisor: HTTP ${res.statusCode}`);
        if (parsed.error?.name) err.name = parsed.error.name;
        reject(err);
      });
    });
    req.on('error', (err) =>
      reject(new ClusterError(`cannot reach the cluster supervisor at ${socketPath}: ${err.message}`)),
    );
    req.end();
  });
}
