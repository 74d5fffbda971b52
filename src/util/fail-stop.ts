/**
 * Fail-stop: an internal failure (an I/O error on the raft log, a broken invariant, a thread that
 * died) ends the whole process, as TiKV does on a raft-engine write error. A node that keeps
 * listening with a dead thread answers nothing and never recovers; a process that exits is
 * restarted by its supervisor and Raft catches it up from its durable log.
 *
 * Input from the network never comes here: it is validated and refused at the edge.
 *
 * The fatal action is a seam: `tinykv server` exits; tests and library embedders may pass their
 * own handler, so a fault injected in one in-process node does not kill the test runner.
 */
import { symbols, type Logger } from 'pino';

/** EX_SOFTWARE from sysexits.h: an internal software error. */
export const FATAL_EXIT_CODE = 70;

/** Called once per internal failure; `reason` says which part failed, `err` what it saw. */
export type FatalHandler = (reason: string, err?: unknown) => void;

/** The default action: one `fatal` log line with the reason, flush the log, exit non-zero. */
export function exitOnFatal(logger: Logger): FatalHandler {
  let exiting = false;
  return (reason, err) => {
    if (exiting) return;
    exiting = true;
    logger.fatal({ err, reason }, `fatal: ${reason}; stopping the process`);
    flushLoggerSync(logger);
    process.exit(FATAL_EXIT_CODE);
  };
}

/**
 * Process-wide fail-stop for the CLI commands: an unhandled rejection or uncaught exception is a
 * bug, so it becomes one fatal line and exit 70 (through `onFatal`), not a half-alive process or
 * Node's bare crash dump. Returns a function that removes the hooks again (for in-process runs).
 */
export function installProcessFailStop(logger: Logger, onFatal: FatalHandler = exitOnFatal(logger)): () => void {
  const onRejection = (err: unknown): void => onFatal('unhandled promise rejection', err);
  const onException = (err: unknown): void => onFatal('uncaught exception', err);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}

/** Calls `handler` for the first failure only; later ones (the same fault seen by another thread) are logged. */
export function onceFatal(handler: FatalHandler, logger: Logger): FatalHandler {
  let fired = false;
  return (reason, err) => {
    if (fired) {
      logger.error({ err, reason }, 'further internal failure after a fatal one');
      return;
    }
    fired = true;
    handler(reason, err);
  };
}

/** pino writes asynchronously; the fatal line must reach stderr before the process exits. */
function flushLoggerSync(logger: Logger): void {
  const stream = (logger as unknown as Record<symbol, { flushSync?: () => void } | undefined>)[symbols.streamSym];
  try {
    stream?.flushSync?.();
  } catch {
    // Nothing left to do: the exit below must happen either way.
  }
}

/**
 * On a worker thread (raft poller, apply thread): ends the thread with an uncaught error naming
 * the reason. The main thread sees the Worker's 'error' event and fail-stops the process; the
 * thread never lingers with a dead poll loop.
 */
export function failThisThread(logger: Logger, reason: string, err: unknown): void {
  logger.error({ err, reason }, 'internal failure; ending this thread');
  const error = new Error(`${reason}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  setImmediate(() => {
    throw error;
  });
}
