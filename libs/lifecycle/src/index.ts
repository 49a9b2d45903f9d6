/**
 * libs/lifecycle: how a Bowline process ends — the exit status for a configuration error and
 * graceful stop on SIGTERM/SIGINT. No Nest: the proxy uses it without the control plane's host.
 */
export { stopOnSignals } from './signals';

/** Exit status for a configuration error (sysexits EX_CONFIG). */
export const EXIT_CONFIG = 78;
