// The `limit` option of the body middleware, as body-parser reads it (the `bytes` package):
// a number of bytes, or a string such as '100kb', '1.5mb', '512b' or '1024' (units of 1024,
// case-insensitive). Unlike body-parser, anything else is an error at start-up: bytes.parse
// gives null for 'lots', and raw-body takes a null limit as no limit at all.
import { checkInteger, describe, invalid } from '@strongroom/core-native/validate';

/** body-parser's default: 100 KiB. */
export const DEFAULT_LIMIT = 100 * 1024;

const UNITS: Readonly<Record<string, number>> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4, pb: 1024 ** 5 };
const PATTERN = /^(\d+(?:\.\d+)?) *(b|kb|mb|gb|tb|pb)?$/i;

/** A size limit in bytes from the option's value (undefined: the default). */
export function parseLimit(value: unknown, what: string): number {
  if (value === undefined) return DEFAULT_LIMIT;
  if (typeof value === 'number') return checkInteger(value, what, 0, Number.MAX_SAFE_INTEGER);
  const match = typeof value === 'string' ? PATTERN.exec(value.trim()) : null;
  if (match === null) {
    throw invalid(`${what} must be a number of bytes or a size such as '100kb' or '1mb', got ${typeof value === 'string' ? `'${value}'` : describe(value)}`);
  }
  const bytes = Math.floor(Number(match[1]) * (UNITS[(match[2] ?? 'b').toLowerCase()] as number));
  return checkInteger(bytes, what, 0, Number.MAX_SAFE_INTEGER);
}
