import type { Logger } from '#libs/logging';

/**
 * On SIGTERM or SIGINT: logs `what`, runs `stop` and exits 0 when it settles (1 on an error),
 * or exits 1 when the grace period runs out first.
 */
export function stopOnSignals(logger: Logger, graceMs: number, what: string, stop: () => Promise<unknown>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs }, `shutting down: ${what}`);
    setTimeout(() => {
      logger.warn('grace period over; exiting with work still in flight');
      process.exit(1);
    }, graceMs).unref();
    stop().then(
      () => {
        logger.info('stopped cleanly');
        logger.flush();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
