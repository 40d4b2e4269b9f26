// Secrets that live as long as one response: sensitiveBody() hands each request's
// SecretBuffers to releaseWithResponse(), which destroys them when the response finishes
// or its connection closes, whichever comes first. keep() takes one out of that set, and
// from then on it is the caller's to destroy().
import type { ServerResponse } from 'node:http';

import { SecretBuffer } from '@strongroom/buffer';
import { StrongroomError } from '@strongroom/core-native';
import { checkArgs, describe, invalid } from '@strongroom/core-native/validate';

/** The set a secret will be destroyed with, while its response is still going. */
const pendingOf = new WeakMap<object, Set<SecretBuffer>>();
const kept = new WeakSet<object>();

/** Destroys every secret in the list (the error paths). */
export function destroyAll(secrets: Iterable<SecretBuffer>): void {
  for (const secret of secrets) secret.destroy();
}

/** Destroys the secrets when res finishes or closes, except those keep() takes out first. */
export function releaseWithResponse(res: ServerResponse, secrets: readonly SecretBuffer[]): void {
  if (secrets.length === 0) return;
  const pending = new Set(secrets);
  for (const secret of secrets) pendingOf.set(secret, pending);
  const release = (): void => {
    res.off('finish', release);
    res.off('close', release);
    for (const secret of pending) {
      pendingOf.delete(secret);
      secret.destroy();
    }
    pending.clear();
  };
  if (res.writableFinished || res.closed) {
    release(); // nobody is left to answer
    return;
  }
  res.once('finish', release);
  res.once('close', release);
}

/**
 * Keeps a secret that sensitiveBody() put in req.body past the end of its response: it is
 * no longer destroyed when the response finishes, and the caller must destroy() it. Returns
 * the same SecretBuffer. Calling it again is harmless.
 */
export function keep(secret: SecretBuffer): SecretBuffer {
  checkArgs(arguments.length, 1, 'keep()');
  if (typeof secret !== 'object' || secret === null) {
    throw invalid(`keep() takes a SecretBuffer from req.body, got ${describe(secret)}`);
  }
  if (kept.has(secret)) return secret;
  const pending = pendingOf.get(secret);
  if (pending === undefined) {
    if (secret instanceof SecretBuffer && secret.destroyed) {
      throw new StrongroomError(
        'ERR_DESTROYED',
        'keep(): this secret was destroyed when its response finished; call keep() before the response is sent',
      );
    }
    throw invalid(
      `keep() takes a SecretBuffer that sensitiveBody() put in req.body, got ${describe(secret)} it did not make; ` +
        'a buffer you made yourself is yours to destroy already',
    );
  }
  pending.delete(secret);
  pendingOf.delete(secret);
  kept.add(secret);
  return secret;
}
