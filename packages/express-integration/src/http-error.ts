// HttpError: the error every middleware of this package passes to next(), in the shape
// Express's final handler and body-parser's users expect (http-errors): `status` and
// `statusCode`, `expose` (true below 500: the message may be shown to the client), and a
// `type` such as 'entity.parse.failed'. Messages describe the request's form, never its
// content: no byte of a body, a header value or a secret.

const NAMES: Readonly<Record<number, string>> = {
  400: 'BadRequestError',
  401: 'UnauthorizedError',
  403: 'ForbiddenError',
  413: 'PayloadTooLargeError',
  415: 'UnsupportedMediaTypeError',
  500: 'InternalServerError',
  503: 'ServiceUnavailableError',
};

export class HttpError extends Error {
  readonly status: number;
  readonly statusCode: number;
  /** Whether the message may be shown to the client (true for 4xx, as in http-errors). */
  readonly expose: boolean;
  /** What went wrong, as body-parser names it: 'entity.too.large', 'charset.unsupported', ... */
  readonly type: string;

  constructor(status: number, type: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = NAMES[status] ?? 'HttpError';
    this.status = status;
    this.statusCode = status;
    this.expose = status < 500;
    this.type = type;
  }
}

/** An HttpError with extra fields (body-parser's `limit`, `length`, `charset`, ...); numbers and names only. */
export function httpError(
  status: number,
  type: string,
  message: string,
  fields: Readonly<Record<string, string | number | undefined>> = {},
): HttpError {
  const error = new HttpError(status, type, message);
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) Object.defineProperty(error, key, { value, enumerable: true });
  }
  return error;
}
