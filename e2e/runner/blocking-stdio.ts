// Imported for its effect, first, by e2e/run-tests.ts and (through `node --import`) by the test
// runner and every test file's process it starts: stdout and stderr, when they are pipes or
// sockets, write synchronously.
//
// Why: Node writes to a pipe asynchronously once the reader lags, and process.exit() drops what
// is still queued. --test-force-exit makes each test file's process call process.exit() as soon
// as its report is handed to stdout, which is the runner's socket: under load the last results
// (a test:start already sent, its test:pass still queued) were lost and the file still passed
// with exit code 0 (nodejs/node#64833; seen as "515 passed" of 517). Blocking writes make the
// process wait for the reader instead. Files and terminals are synchronous already.
type StdioHandle = { setBlocking?: (blocking: boolean) => number };

for (const stream of [process.stdout, process.stderr]) {
  (stream as unknown as { _handle?: StdioHandle })._handle?.setBlocking?.(true);
}
