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
//
// A view can be moved out of its scope (transfer(), a byte stream's enqueue(), a BYOB
// read detach it and hand its memory to a new ArrayBuffer). In direct mode core-native
// notices, moves the secret to fresh pages and makes the ending scope throw
// ERR_VIEW_ESCAPED; in copy mode the moved copy is beyond reach (it cannot be wiped, and a
// write scope's changes are not written back), and the ending scope throws the same code.
// Either way the region is 'noaccess' again before the error is thrown.
import { allocate, copyIn, copyOut, isStrongroomError, type Region, StrongroomError } from '@strongroom/core-native';

export type ScopeKind = 'read' | 'write';
export type ViewMode = 'direct' | 'copy';

let detectedMode: ViewMode | undefined;

// The ArrayBuffers of every view a scope handed out (direct views and heap copies alike):
// SecretBuffer.from() and moveFrom() wipe their source, and must not wipe a scope's view
// (it is another secret's memory, read-only in a read scope).
const handedOut = new WeakSet<ArrayBufferLike>();

/** Whether `bytes` is (over) a view a scope handed out. */
export function isScopeView(bytes: Uint8Array): boolean {
  return handedOut.has(bytes.buffer);
}

/**
 * A view of the region, and whether it is a heap copy: 'direct' where the runtime allows
 * views over guarded memory, else a copy. The first scope on native memory finds out which;
 * a 'heap' region's view is its own memory in every runtime, and tells nothing of the mode.
 */
function viewOf(region: Region): { view: Uint8Array; copy: boolean } {
  if (region.backend === 'heap') return { view: region.view(), copy: false };
  if (detectedMode !== 'copy') {
    try {
      const view = region.view();
      detectedMode = 'direct';
      return { view, copy: false };
    } catch (error) {
      if (!isStrongroomError(error) || error.code !== 'ERR_EXTERNAL_BUFFERS_DISALLOWED') throw error;
      detectedMode = 'copy';
    }
  }
  const copy = new Uint8Array(region.size);
  copyOut(copy, region);
  return { view: copy, copy: true };
}

/** 'direct' where views over guarded memory are allowed, 'copy' where the runtime refuses them. */
export function viewMode(): ViewMode {
  if (detectedMode === undefined) {
    let probe: Region;
    try {
      probe = allocate(1, { backend: 'auto' }); // native memory: a 'heap' default tells nothing
    } catch (error) {
      if (isStrongroomError(error) && error.code === 'ERR_NATIVE_UNAVAILABLE') return 'direct'; // 'heap' views only
      throw error;
    }
    try {
      viewOf(probe);
    } finally {
      probe.free();
    }
  }
  return detectedMode as ViewMode;
}

/** Whether a view's ArrayBuffer was detached by someone else: moved out of its scope. */
function moved(view: Uint8Array): boolean {
  return view.buffer.byteLength === 0; // a scope's view is never empty: a region holds at least one byte
}

/** Wipes a heap copy and detaches its ArrayBuffer (every view over it becomes empty). */
function discard(copy: Uint8Array): void {
  if (moved(copy)) return;
  copy.fill(0);
  structuredClone(copy.buffer, { transfer: [copy.buffer as ArrayBuffer] });
}

function copyEscaped(): StrongroomError {
  return new StrongroomError(
    'ERR_VIEW_ESCAPED',
    "a view left its scope: transfer(), a byte stream's enqueue() or a BYOB read moved the heap copy this scope " +
      "handed out (copy view mode) into an ArrayBuffer strongroom cannot reach, so that copy was not wiped and a " +
      "write scope's changes in it were not written back. Wipe the moved bytes yourself, and copy bytes out of a " +
      'view (Buffer.from(view)) instead of moving it',
  );
}

export class Scopes {
  #kind: ScopeKind | undefined;
  #depth = 0;
  #view: Uint8Array | undefined;
  #copyMoved = false; // copy mode: a copy handed out in this scope was moved away
  #copy = false; // this scope's view is a heap copy (fixed when the outermost scope opens)

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
        const { view, copy } = viewOf(region);
        this.#view = view;
        this.#copy = copy;
        handedOut.add(view.buffer);
      } catch (error) {
        this.#depth = 0;
        region.protect('noaccess');
        throw error;
      }
      this.#kind = kind;
      return this.#view; // the outermost scope takes the view itself
    }
    // Each nested scope gets its own array object over the same memory; if the outer
    // view was moved away, a fresh one (core-native, or #copyMoved, remembers the move).
    if (moved(this.#view)) {
      if (this.#copy) this.#copyMoved = true;
      this.#view = viewOf(region).view;
      handedOut.add(this.#view.buffer);
    }
    const view = this.#view;
    return new Uint8Array(view.buffer, view.byteOffset, view.length);
  }

  /**
   * Closes one scope; the last one re-protects the region (and writes a copy back). It
   * throws ERR_VIEW_ESCAPED, with the region 'noaccess' again, when a view was moved out.
   */
  leave(region: Region | undefined): void {
    if (this.#depth === 0) return;
    if (--this.#depth > 0) return;
    const view = this.#view;
    const kind = this.#kind;
    const copy = this.#copy;
    let escaped = this.#copyMoved;
    this.#view = undefined;
    this.#kind = undefined;
    this.#copyMoved = false;
    if (view === undefined) return;
    try {
      if (copy) {
        if (moved(view)) escaped = true;
        else if (kind === 'write' && region !== undefined && !escaped) copyIn(region, view);
      }
    } finally {
      try {
        if (copy) discard(view);
      } finally {
        region?.protect('noaccess'); // direct mode: ERR_VIEW_ESCAPED from core-native after a move
      }
    }
    if (escaped) throw copyEscaped();
  }

  /** Ends every scope at once (destroy() inside a scope): copies are wiped, nothing is written back. */
  abandon(): void {
    const view = this.#view;
    this.#view = undefined;
    this.#kind = undefined;
    this.#depth = 0;
    this.#copyMoved = false;
    if (view !== undefined && this.#copy) discard(view);
  }
}
