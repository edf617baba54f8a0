// Structured logs: one JSON object per line on stderr. Values of keys that look like secrets
// are replaced before anything is written, so a token passed by mistake is never logged.
export type Fields = Record<string, unknown>;
export type Logger = {
  debug(msg: string, f?: Fields): void;
  info(msg: string, f?: Fields): void;
  warn(msg: string, f?: Fields): void;
  error(msg: string, f?: Fields): void;
  child(f: Fields): Logger;
};

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type Level = keyof typeof LEVELS;
const SECRET_KEY = /token|password|secret|credential|privatekey/i;

export function redact(f: Fields): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries(f)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : v;
  return out;
}

export function createLogger(
  level: Level = 'info',
  base: Fields = {},
  write: (s: string) => void = (s) => {
    process.stderr.write(s);
  },
): Logger {
  const at =
    (l: Level) =>
    (msg: string, f: Fields = {}) => {
      if (LEVELS[l] < LEVELS[level]) return;
      write(
        `${JSON.stringify({ time: new Date().toISOString(), level: l, msg, ...redact({ ...base, ...f }) })}\n`,
      );
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (f) => createLogger(level, { ...base, ...f }, write),
  };
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
