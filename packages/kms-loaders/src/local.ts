// The local sources: an environment variable, a file (Kubernetes and Docker secrets, any
// path, watched for rotation), and a systemd credential. Each reads natively into guarded
// memory (readEnv, readFile of core-native, through SecretBuffer) and seals what it read
// into an Enclave; no byte of the secret is ever a JS string or an ordinary Buffer.
//
// Kubernetes updates a mounted secret by writing a new timestamped folder and swapping the
// `..data` symlink that every key's symlink goes through: a watch on the file's folder sees
// the swap (a rename in that folder) and the store reads the file again.
import { watch as watchFolder, type FSWatcher } from 'node:fs';
import path from 'node:path';

import { SecretBuffer } from '@strongroom/buffer';
import { checkArgs, checkBoolean, checkFileRules, checkOptions, checkText, invalid } from '@strongroom/core-native/validate';
import { Enclave } from '@strongroom/enclave';

import { asSourceError, defineSource, maxSizeOf, sourceError, type Source } from './source.js';

function sealed(read: () => SecretBuffer, source: { kind: string; where: string }): Enclave {
  try {
    return Enclave.seal(read());
  } catch (error) {
    throw asSourceError(error, source);
  }
}

export interface EnvSourceOptions {
  /** Remove the variable from the environment and overwrite its bytes (default true). */
  remove?: boolean;
}

/** An environment variable (removed from the environment once read, its bytes overwritten). */
export function env(name: string, options?: EnvSourceOptions): Source {
  checkArgs(arguments.length, 2, 'env()');
  checkText(name, 'the variable name of env()', '=');
  const given = checkOptions(options, 'env()', ['remove']);
  const remove = given.remove === undefined ? true : checkBoolean(given.remove, 'remove');
  const where = `$${name}`;
  let taken: Enclave | undefined;
  return defineSource({
    kind: 'env',
    where,
    remote: false,
    load: async () => {
      // Once removed, the variable is gone: a refresh keeps what was read.
      if (taken !== undefined && remove) return taken;
      taken = sealed(() => SecretBuffer.fromEnv(name, { remove }), { kind: 'env', where });
      return taken;
    },
  });
}

export interface FileSourceOptions {
  /** Read the file again when it changes (default false). */
  watch?: boolean;
  /** The most bytes read (default 64 KiB); more is ERR_SOURCE_FORMAT. */
  maxSize?: number;
  /**
   * The uid the file must belong to (for example `process.getuid()`); another owner is
   * ERR_SOURCE_UNAVAILABLE before a byte is read. Judged on the descriptor opened, at every load.
   */
  owner?: number;
  /**
   * The permission bits the file may have (for example `0o600`); a file with any other is
   * ERR_SOURCE_UNAVAILABLE before a byte is read. Judged on the descriptor opened, at every load.
   */
  maxMode?: number;
}

// Watches a file's folder: any change there (a write, a symlink swap) may be a new secret.
export function folderWatch(file: string): (changed: () => void) => () => void {
  return (changed) => {
    let watcher: FSWatcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      watcher = watchFolder(path.dirname(file), { persistent: false }, () => {
        // a swap is several events in a row: read once they have settled
        clearTimeout(timer);
        timer = setTimeout(changed, 50);
        timer.unref();
      });
      watcher.on('error', () => undefined);
    } catch {
      watcher = undefined; // a folder that cannot be watched: the refresh interval still applies
    }
    return () => {
      clearTimeout(timer);
      watcher?.close();
    };
  };
}

/** A file read natively into guarded memory; with { watch }, read again when it changes. */
export function file(filePath: string, options?: FileSourceOptions): Source {
  checkArgs(arguments.length, 2, 'file()');
  checkText(filePath, 'the path of file()');
  const given = checkOptions(options, 'file()', ['watch', 'maxSize', 'owner', 'maxMode']);
  const watch = given.watch === undefined ? false : checkBoolean(given.watch, 'watch');
  const maxSize = maxSizeOf(given.maxSize);
  // Checked now, not at the first load; passed on only when given.
  const { owner, maxMode } = checkFileRules(given);
  const rules: { owner?: number; maxMode?: number } = {};
  if (owner !== -1) rules.owner = owner;
  if (maxMode !== -1) rules.maxMode = maxMode;
  const absolute = path.resolve(filePath);
  return defineSource({
    kind: 'file',
    where: absolute,
    remote: false,
    load: async () => sealed(() => SecretBuffer.fromFile(absolute, { maxSize, ...rules }), { kind: 'file', where: absolute }),
    ...(watch ? { watch: folderWatch(absolute) } : {}),
  });
}

export interface SystemdCredentialOptions {
  /** The most bytes read (default 64 KiB). */
  maxSize?: number;
}

/**
 * A systemd credential (LoadCredential=, LoadCredentialEncrypted=, SetCredential=):
 * $CREDENTIALS_DIRECTORY/name, which systemd decrypts for the service on a private mount.
 */
export function systemdCredential(name: string, options?: SystemdCredentialOptions): Source {
  checkArgs(arguments.length, 2, 'systemdCredential()');
  checkText(name, 'the credential name of systemdCredential()', '/');
  if (name === '.' || name === '..') throw invalid("a credential name cannot be '.' or '..'");
  const given = checkOptions(options, 'systemdCredential()', ['maxSize']);
  const maxSize = maxSizeOf(given.maxSize);
  const spec = { kind: 'systemd-credential', where: name };
  return defineSource({
    ...spec,
    remote: false,
    load: async () => {
      const directory = process.env.CREDENTIALS_DIRECTORY;
      if (directory === undefined || directory === '') {
        throw sourceError(
          'ERR_SOURCE_UNAVAILABLE',
          spec,
          'CREDENTIALS_DIRECTORY is not set: run the service under systemd with LoadCredential= (or LoadCredentialEncrypted=) for this name',
        );
      }
      return sealed(() => SecretBuffer.fromFile(path.join(directory, name), { maxSize }), spec);
    },
  });
}
