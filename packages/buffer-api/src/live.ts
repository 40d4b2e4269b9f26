// The set of live SecretBuffers, for live(), destroyAll() and clean-up of buffers that
// become unreachable. Regions are held strongly (they must be freed), buffers weakly
// (a buffer nobody references any more must be collectable); a FinalizationRegistry
// frees the region of a buffer that was collected without destroy().
import type { Region } from '@strongroom/core-native';

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

/** Destroys every live buffer; returns how many there were. */
export function destroyEverything(): number {
  const count = regions.size;
  for (const [region, owner] of [...regions]) {
    const buffer = owner.deref();
    if (buffer) buffer.destroy();
    else {
      regions.delete(region);
      region.free();
    }
  }
  return count;
}
