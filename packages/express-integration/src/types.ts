// The shapes every middleware of this package shares. They are Node's own types, so the
// package needs no @types/express: a function of an IncomingMessage and a ServerResponse is
// accepted wherever Express 4 or 5 takes a handler, since Express's Request and Response
// extend them.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Express's next(): no argument to go on, an error to skip to the error handlers. */
export type NextFunction = (error?: unknown) => void;

/** A middleware as this package's factories return it: a named function of three arguments. */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;

/** The request fields the body middleware reads and sets (body-parser's, too). */
export interface BodyRequest extends IncomingMessage {
  body?: unknown;
  /** Set by a body parser that has read the body: the next one leaves the request alone. */
  _body?: boolean;
}
