// What a store process prints when it failed internally, so tests can assert it did not.
//
// A store that fail-stops (src/util/fail-stop.ts) logs one pino line at level 60 ("fatal") whose
// message starts with "fatal: <reason>" (e.g. "fatal: raft poller 0 failed; stopping the
// process") and exits with code 70. A worker thread that breaks first logs "internal failure;
// ending this thread" at level 50. Matching these, not a hand-written reason, keeps the check
// true to whatever reason a future failure names.
import type { ChildProcess } from 'node:child_process';

/** Exit code of a fail-stop (EX_SOFTWARE); mirrors FATAL_EXIT_CODE in src/util/fail-stop.ts. */
export const FAIL_STOP_EXIT_CODE = 70;

const FAILURE_LINE = /"level":60|"msg":"fatal: |"msg":"internal failure; ending this thread"/;

/** The log lines (from pino JSON on stderr) that report an internal failure; empty when there are none. */
export function internalFailureLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => FAILURE_LINE.test(line));
}

/**
 * Why a store process is not healthy, or undefined when it still runs and logged no internal
 * failure. The text names the exit code and the failure lines, for an assertion message.
 */
export function unhealthyReason(name: string, child: ChildProcess, stderr: string): string | undefined {
  const lines = internalFailureLines(stderr);
  if (child.exitCode === null && child.signalCode === null && lines.length === 0) return undefined;
  const exit =
    child.exitCode === FAIL_STOP_EXIT_CODE
      ? `exited with ${FAIL_STOP_EXIT_CODE} (fail-stop)`
      : child.exitCode !== null || child.signalCode !== null
        ? `exited (code ${child.exitCode}, signal ${child.signalCode})`
        : 'still running';
  return `${name} ${exit}; internal failure lines:\n${lines.join('\n').slice(-4000) || '(none)'}`;
}
