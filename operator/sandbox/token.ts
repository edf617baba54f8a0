// The enrollment token Secret `<sandbox>-enrollment`: its contract (token `lt-` + 32 hex,
// hash, UID binding, expiry annotations) is owned by the control plane, which consumes it —
// operator/controlplane/token-secret.ts; the reconciler only decides *when* to issue one.
// The token itself is never logged (the logger redacts token-like keys; nothing here returns it).
export {
  ANNOTATION as TOKEN_ANNOTATION,
  newTokenSecret,
  tokenSecretName as secretName,
} from '../controlplane/token-secret.ts';

export const TOKEN_KEY = 'token';
export const TOKEN_PATTERN = /^lt-[0-9a-f]{32}$/;

/** Parses Go-style durations made of h/m/s parts ("1h", "90m", "1h30m"). */
export function parseDuration(text: string): number {
  const re = /([0-9]+)(h|m|s)/g;
  let ms = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    ms += Number(m[1]) * { h: 3_600_000, m: 60_000, s: 1000 }[m[2] as 'h' | 'm' | 's'];
    consumed += m[0].length;
  }
  if (consumed !== text.length || text.length === 0) throw new Error(`bad duration ${JSON.stringify(text)}`);
  return ms;
}
