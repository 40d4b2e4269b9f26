// gracefulShutdown(server, { signals, timeout, onShutdown }): on SIGTERM or SIGINT, stop
// accepting connections, let the requests in flight finish (idle keep-alive connections
// are closed at once, busy ones as soon as their response is sent), run onShutdown, then
// purge every secret and exit with the conventional code (143 for SIGTERM, 130 for
// SIGINT). A second signal or the timeout forces it: every connection is closed, the
// secrets are purged and the process exits with the code of the signal that started it.
//
// Built on @strongroom/enclave's catchSignals({ purge: 'last' }): the handler (the drain)
// runs while the secrets are still there, since the requests it waits for may need them.
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { Server as NetServer } from 'node:net';

import { catchSignals } from '@strongroom/enclave';
import { checkArgs, checkFunction, checkOptions, describe, invalid } from '@strongroom/core-native/validate';

/** How long a drain may take before the exit is forced: 10 s, well inside Kubernetes' default 30 s grace period. */
export const DEFAULT_SHUTDOWN_TIMEOUT = 10_000;
const DEFAULT_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

export interface GracefulShutdownOptions {
  /** Default ['SIGTERM', 'SIGINT']. */
  signals?: readonly NodeJS.Signals[];
  /** Milliseconds the requests in flight (and onShutdown) get before the exit is forced (default 10,000). */
  timeout?: number;
  /** Called once no request is in flight and the server is closed, before the purge (close a database here); may return a promise. */
  onShutdown?: (signal: NodeJS.Signals) => void | Promise<void>;
}

// An http.Server, or anything that behaves as one here (https, http2's compatibility server).
interface DrainableServer extends NetServer {
  closeIdleConnections?: () => void;
  closeAllConnections?: () => void;
}

function checkServer(server: unknown): DrainableServer {
  if (!(server instanceof NetServer) || typeof (server as HttpServer).closeIdleConnections !== 'function') {
    throw invalid(
      `gracefulShutdown() takes the http.Server that app.listen() returns (or an https one), got ${describe(server)}`,
    );
  }
  return server as DrainableServer;
}

/**
 * Drains `server` on each of `signals`, then purges every secret and exits (see the top
 * of this file). Returns a function that removes the signal listeners again.
 */
export function gracefulShutdown(server: HttpServer, options?: GracefulShutdownOptions): () => void {
  checkArgs(arguments.length, 2, 'gracefulShutdown()');
  const target = checkServer(server);
  const given = checkOptions(options, 'gracefulShutdown()', ['signals', 'timeout', 'onShutdown']);
  const onShutdown =
    given.onShutdown === undefined
      ? undefined
      : checkFunction<NonNullable<GracefulShutdownOptions['onShutdown']>>(given.onShutdown, 'onShutdown');

  // Responses in flight, so that each one's connection closes once it is sent.
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  const closeAfter = (res: ServerResponse): void => {
    if (!res.headersSent) res.setHeader('Connection', 'close');
  };
  const onRequest = (_req: IncomingMessage, res: ServerResponse): void => {
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      if (draining) target.closeIdleConnections?.();
    });
    if (draining) closeAfter(res);
  };

  const drain = (signal: NodeJS.Signals): Promise<void> =>
    new Promise<void>((resolve) => {
      draining = true;
      for (const res of inFlight) closeAfter(res);
      // close() stops accepting; its callback runs once every connection has ended.
      target.close(() => resolve());
      target.closeIdleConnections?.();
    }).then(() => onShutdown?.(signal));

  // catchSignals checks the signals and the timeout (before any listener is added here).
  const dispose = catchSignals({
    signals: (given.signals ?? DEFAULT_SIGNALS) as readonly NodeJS.Signals[],
    purge: 'last',
    timeout: (given.timeout ?? DEFAULT_SHUTDOWN_TIMEOUT) as number,
    handler: drain,
  });
  target.on('request', onRequest);
  return () => {
    dispose();
    target.off('request', onRequest);
  };
}
