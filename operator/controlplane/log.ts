// One JSON line per event on stderr. Callers pass fields, never secrets: tokens go through
// redactToken, credentials are never logged.
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: Level, msg: string, fields?: Record<string, unknown>) => void;

export function jsonLogger(
  component: string,
  minLevel: Level = 'info',
  write = (line: string) => process.stderr.write(line),
): Logger {
  const order: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  return (level, msg, fields) => {
    if (order[level] < order[minLevel]) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, component, msg, ...fields })}\n`);
  };
}
