// Real Express servers on 127.0.0.1 for the tests: both majors, a free port, real HTTP.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';

import express4 from 'express4';
import express5 from 'express5';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
/** Child snippets run from the package folder: '@strongroom/express' is its built dist/, 'express4'/'express5' resolve. */
export const CHILD = { cwd: PACKAGE_DIR };

export type ExpressFactory = typeof express5;
export const MAJORS = [
  ['Express 4', express4 as unknown as ExpressFactory, 'express4'],
  ['Express 5', express5, 'express5'],
] as const;

export interface Running {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1, port 0; close() ends every connection too. */
export async function listen(app: ReturnType<ExpressFactory>): Promise<Running> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
