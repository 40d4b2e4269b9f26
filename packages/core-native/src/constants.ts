// The addon's own numbers, mapped to names in this one place. native/addon.cc declares
// them (backend, protection and mlock codes, the bits of regionState(), HMAC algorithm
// ids, bounds, sealed-format sizes) and exports them as `constants`; no other module
// restates a code. Only modules on a native path call these: a 'heap' region never loads
// the addon.
import { native } from './binding.js';
import type { AddonConstants, NativeBackend, Protection } from './types.js';

/** The addon's constants (loads it). */
export function constants(): AddonConstants {
  return native().constants;
}

/** The name of a native code in one of the constants' tables. */
export function nameOf<T extends string>(table: Readonly<Record<T, number>>, code: number): T {
  for (const name of Object.keys(table) as T[]) if (table[name] === code) return name;
  throw new RangeError(`the addon reported an unknown code ${code}`);
}

/** What regionState() says, by name. */
export interface RegionState {
  protection: Protection;
  freed: boolean;
  locked: boolean;
  backend: NativeBackend;
}

// The names of the codes, indexed by code: built once (decodeState runs on every
// protect() and every allocation).
let names: { protections: Protection[]; backends: NativeBackend[] } | undefined;

function byCode<T extends string>(table: Readonly<Record<T, number>>): T[] {
  const out: T[] = [];
  for (const name of Object.keys(table) as T[]) out[table[name]] = name;
  return out;
}

export function decodeState(bits: number): RegionState {
  const { state, protections, backends } = constants();
  names ??= { protections: byCode(protections), backends: byCode(backends) };
  const protection = names.protections[bits & state.protectionMask];
  const backend = names.backends[bits >> state.backendShift];
  if (protection === undefined || backend === undefined) throw new RangeError(`the addon reported an unknown state ${bits}`);
  return { protection, freed: (bits & state.freed) !== 0, locked: (bits & state.locked) !== 0, backend };
}
