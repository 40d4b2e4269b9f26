// Validation of configureCoffer() options, shared by both backends.
import { MAX_REKEY_INTERVAL, StrongroomError } from '@strongroom/core-native';

export function checkInterval(options: unknown): number | undefined {
  if (typeof options !== 'object' || options === null) {
    throw new StrongroomError('ERR_INVALID_ARG', 'configureCoffer() takes an options object such as { rekeyInterval: 500 }');
  }
  for (const key of Object.keys(options)) {
    if (key !== 'rekeyInterval') throw new StrongroomError('ERR_INVALID_ARG', `unknown configureCoffer() option '${key}'`);
  }
  const { rekeyInterval } = options as { rekeyInterval?: unknown };
  if (rekeyInterval === undefined) return undefined;
  if (typeof rekeyInterval !== 'number' || !Number.isSafeInteger(rekeyInterval) || rekeyInterval < 0 || rekeyInterval > MAX_REKEY_INTERVAL) {
    throw new StrongroomError('ERR_INVALID_ARG', `rekeyInterval must be an integer from 0 to ${MAX_REKEY_INTERVAL} (milliseconds)`);
  }
  return rekeyInterval;
}
