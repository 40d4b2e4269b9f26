// The set of live SecretBuffers, for live(), destroyAll() and clean-up of buffers that
// become unreachable. Regions are held strongly (they must be freed), buffers weakly
// (a buffer nobody references any more must be collectable); a FinalizationRegistry
// frees the region of a buffer that was collected without destroy().
import { isStrongroomError, StrongroomError, type Region } from '@strongroom/core-native';

export interface Destroyable {
  destroy(): void;
}

const regions = new Map<Region, WeakRef<Destroyable>>();

const registry = new FinalizationRegistry<Region>((region) => {
  regions.delete(region);
  region.free();
});

export function track(owner: Destroyable, region: Region): void {
  regions.set(region, new WeakRef(owner));
  registry.register(owner, region, owner);
}

export function untrack(owner: Destroyable, region: Region): void {
  regions.delete(region);
  registry.unregister(owner);
}

export interface LiveStats {
  /** SecretBuffers not yet destroyed (collected ones count until their clean-up ran). */
  buffers: number;
  /** Their bytes together. */
  bytes: number;
}

export function liveStats(): LiveStats {
  let bytes = 0;
  for (const region of regions.keys()) bytes += region.size;
  return { buffers: regions.size, bytes };
}

/**
 * Frees the regions of buffers the garbage collector has already collected but whose
 * clean-up callback has not run yet (it runs only between tasks); returns how many.
 */
export function reclaimCollected(): number {
  let count = 0;
  for (const [region, owner] of [...regions]) {
    if (owner.deref() !== undefined) continue;
    regions.delete(region);
    region.free();
    count++;
  }
  return count;
}

/**
 * Runs an allocation; when it meets a memory limit (ERR_MLOCK_LIMIT, ERR_MAPPING_LIMIT,
 * ERR_NO_MEMORY), frees the regions of collected buffers and tries once more (unless
 * `retry` is false: a read from a pipe cannot be repeated), and if it fails again, says how
 * many buffers this thread holds: buffers dropped without destroy() inside one synchronous
 * loop cannot be collected before the loop ends, and hold their locked memory and their
 * mappings until then.
 */
export function allocateUnderPressure<T>(allocation: () => T, retry = true): T {
  try {
    return allocation();
  } catch (error) {
    if (!isLimit(error)) throw error;
    const reclaimed = reclaimCollected();
    if (!retry || reclaimed === 0) throw explained(error);
  }
  try {
    return allocation();
  } catch (again) {
    throw isLimit(again) ? explained(again) : again;
  }
}

function isLimit(error: unknown): error is StrongroomError {
  return (
    isStrongroomError(error) &&
    (error.code === 'ERR_MLOCK_LIMIT' || error.code === 'ERR_MAPPING_LIMIT' || error.code === 'ERR_NO_MEMORY')
  );
}

function explained(error: StrongroomError): StrongroomError {
  const { buffers, bytes } = liveStats();
  if (buffers === 0) return error;
  return new StrongroomError(
    error.code,
    `${error.message}. This thread holds ${buffers} SecretBuffers (${bytes} bytes) not yet destroyed: any of them ` +
      'dropped without destroy() keeps its memory until the garbage collector reclaims it, which cannot happen ' +
      'inside one synchronous loop; destroy() buffers you no longer need (or use `using`)',
    { cause: error },
  );
}

/** Destroys every live buffer; returns how many there were. */
export function destroyEverything(): number {
  const count = regions.size;
  reclaimCollected(); // the collected ones: their regions are freed, nothing to destroy
  for (const owner of [...regions.values()]) owner.deref()?.destroy();
  return count;
}
