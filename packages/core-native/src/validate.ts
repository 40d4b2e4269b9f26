// Argument checks with messages that say what to do. The native layer checks again
// (it guards memory safety on its own); these give the precise, friendly error first.
import { StrongroomError } from './errors.js';

export function invalid(message: string): StrongroomError {
  return new StrongroomError('ERR_INVALID_ARG', message);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'object') return value.constructor?.name ?? 'an object';
  return typeof value;
}

export function checkInteger(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${what} must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** A non-empty string without NUL or any character of `forbidden` (paths, names). Never echoes the value. */
export function checkText(value: unknown, what: string, forbidden = ''): string {
  if (typeof value !== 'string' || value === '') {
    throw invalid(`${what} must be a non-empty string, got ${value === '' ? 'an empty string' : describe(value)}`);
  }
  for (const character of `\0${forbidden}`) {
    if (value.includes(character)) {
      throw invalid(`${what} must not contain ${character === '\0' ? 'a NUL character' : `'${character}'`}`);
    }
  }
  return value;
}

export function checkBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw invalid(`${what} must be true or false, got ${describe(value)}`);
  return value;
}

export function checkBytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalid(`${what} must be a Uint8Array, got ${describe(value)}`);
  return value;
}

const encoder = new TextEncoder();

/** Non-secret input (a message to authenticate): bytes, or a string taken as UTF-8. */
export function checkMessage(value: unknown, what: string): Uint8Array {
  if (typeof value === 'string') return encoder.encode(value);
  return checkBytes(value, `${what} (or a string)`);
}

export function checkOneOf<T extends string>(value: unknown, what: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(`${what} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}`);
  }
  return value as T;
}

/**
 * An options object with only the keys it may have: a misspelt option (`{ maxsize }`,
 * `{ wipesource }`) is an error, never silently the default.
 */
export function checkOptions(value: unknown, what: string, allowed: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') throw invalid(`${what} must be an object`);
  const unknown = Object.keys(value).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw invalid(`${what} has no option ${unknown.map((k) => `'${k}'`).join(', ')}; known: ${allowed.join(', ')}`);
  }
  return value as Record<string, unknown>;
}

/** The options every allocating function takes. */
export const ALLOCATE_KEYS = ['backend', 'mlock'] as const;
