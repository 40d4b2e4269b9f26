// Access scopes: the only way JS sees a secret's bytes.
//
// A region is 'noaccess' whenever no scope is open. Scopes of one kind nest and count:
// the first read scope makes it 'readonly', the first write scope 'readwrite', and the
// last one to close makes it 'noaccess' again, which detaches every view handed out.
// A write scope inside a read scope (or the reverse) is refused with ERR_BUSY rather
// than weakening the protection the outer scope relies on.
//
// In 'copy' view mode (runtimes that refuse external ArrayBuffers) a scope hands out a
// heap copy instead; when the scope ends it is copied back (write scopes), wiped, and
// its ArrayBuffer detached, so a view kept past its scope is empty in both modes.
import { allocate, copyIn, copyOut, isStrongroomError, type Region, StrongroomError } from '@strongroom/core-native';

export type ScopeKind = 'read' | 'write';
export type ViewMode = 'direct' | 'copy';

let detectedMode: ViewMode | undefined;

/**
 * A view of the region: 'direct' where the runtime allows views over guarded memory,
 * else a heap copy. The first scope anywhere finds out which, on its own region.
 */
function viewOf(region: Region): Uint8Array {
  if (detectedMode !== 'copy') {
    try {
      const view = region.view();
      detectedMode = 'direct';
      return view;
    } catch (error) {
      if (!isStrongroomError(error) || error.code !== 'ERR_EXTERNAL_BUFFERS_DISALLOWED') throw error;
      detectedMode = 'copy';
    }
  }
  const copy = new Uint8Array(region.size);
  copyOut(copy, region);
  return copy;
}

/** 'direct' where views over guarded memory are allowed, 'copy' where the runtime refuses them. */
export function viewMode(): ViewMode {
  if (detectedMode === undefined) {
    const probe = allocate(1);
    try {
      viewOf(probe);
    } finally {
      probe.free();
    }
  }
  return detectedMode as ViewMode;
}

/** Wipes a heap copy and detaches its ArrayBuffer (every view over it becomes empty). */
function discard(copy: Uint8Array): void {
  copy.fill(0);
  if (copy.buffer.byteLength > 0) structuredClone(copy.buffer, { transfer: [copy.buffer as ArrayBuffer] });
}

export class Scopes {
  #kind: ScopeKind | undefined;
  #depth = 0;
  #view: Uint8Array | undefined;

  get open(): ScopeKind | undefined {
    return this.#kind;
  }

  /** Opens (or nests) a scope and returns a fresh Uint8Array over the scope's bytes. */
  enter(region: Region, kind: ScopeKind): Uint8Array {
    if (this.#kind !== undefined && this.#kind !== kind) {
      throw new StrongroomError(
        'ERR_BUSY',
        `a ${kind} scope cannot open while a ${this.#kind} scope is open on the same SecretBuffer; ` +
          'finish the outer scope first',
      );
    }
    this.#depth++;
    if (this.#view === undefined) {
      region.protect(kind === 'read' ? 'readonly' : 'readwrite');
      try {
        this.#view = viewOf(region);
      } catch (error) {
        this.#depth = 0;
        region.protect('noaccess');
        throw error;
      }
      this.#kind = kind;
      return this.#view; // the outermost scope takes the view itself
    }
    // Each nested scope gets its own array object over the same memory.
    const view = this.#view;
    return new Uint8Array(view.buffer, view.byteOffset, view.length);
  }

  /** Closes one scope; the last one re-protects the region (and writes a copy back). */
  leave(region: Region | undefined): void {
    if (this.#depth === 0) return;
    if (--this.#depth > 0) return;
    const view = this.#view;
    const kind = this.#kind;
    this.#view = undefined;
    this.#kind = undefined;
    if (view === undefined) return;
    if (detectedMode === 'copy') {
      try {
        if (kind === 'write' && region !== undefined) copyIn(region, view);
      } finally {
        discard(view);
      }
    }
    region?.protect('noaccess');
  }

  /** Ends every scope at once (destroy() inside a scope): copies are wiped, nothing is written back. */
  abandon(): void {
    const view = this.#view;
    this.#view = undefined;
    this.#kind = undefined;
    this.#depth = 0;
    if (view !== undefined && detectedMode === 'copy') discard(view);
  }
}
