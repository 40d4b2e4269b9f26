// The delimiter reader: read(2) from a descriptor straight into a guarded region that
// grows as the input does. No N-API in here (only GuardedMemory and Failure), so the
// fuzz target in fuzz/ links it without Node; io.cc turns its results into handles and
// StrongroomErrors.
//
// A regular file's size is known up front and sizes the region at once. An unknown
// length (pipe, socket, terminal) starts in one page and grows by doubling: a bigger
// region is allocated, the bytes are copied natively, the old one is wiped and freed.
// When the region is full, one more byte read onto the stack (and wiped) tells the end
// from "too large"; a region larger than what was read is moved into one of the exact
// size. A descriptor passed to these steps is never closed by them.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "guarded_memory.h"

namespace strongroom {

// `until` for "read to the end": any other value is a byte, 0 to 255.
constexpr int kNoDelimiter = -1;
constexpr const char* kTooLarge = "ERR_TOO_LARGE";

// The bytes read so far, in a region that can grow up to max_size.
struct Sink {
  std::shared_ptr<GuardedMemory> memory;  // its size() is the capacity
  size_t length = 0;
  size_t max_size = 0;
  Backend backend = Backend::kMmap;
  MlockPolicy policy = MlockPolicy::kRequire;
  std::string source;  // for messages: a path, "fd 3", "the terminal"; never content
};

// Gives the sink an empty region of `capacity` bytes.
bool Reserve(Sink& sink, size_t capacity, Failure* failure);
// Wipes and frees the sink's region, if any, and forgets what was read.
void Discard(Sink& sink);

// Waits until fd is ready (a descriptor Node made non-blocking). False with errno set.
bool WaitFor(int fd, short events);
// read(2), retried on EINTR and, on a non-blocking descriptor, after poll(). Returns the
// byte count, 0 at the end, or -1 with errno set.
ssize_t ReadSome(int fd, uint8_t* into, size_t length);

// Reads fd into the sink (which has a region) until the end, or until the delimiter (not
// kept) when `until` is a byte: then one byte per read(2), so nothing after it is consumed.
// Past max_size: ERR_TOO_LARGE, with max_size + 1 bytes consumed.
bool ReadAll(int fd, int until, Sink& sink, Failure* failure);
// One line of a terminal in canonical mode, in one read(2) into the sink's region (of
// max_size bytes): the kernel returns at most one line per read, so no other reader of the
// terminal (process.stdin, readline) can take part of it. The newline is not kept; a line
// longer than max_size is ERR_TOO_LARGE (its rest is still unread).
bool ReadTerminalLine(int fd, Sink& sink, Failure* failure);
// readFd's read: a first page (or max_size, if smaller), then ReadAll.
bool ReadDescriptor(int fd, int until, Sink& sink, Failure* failure);
// readFile's read of an open descriptor: a regular file's size is checked against
// max_size and sizes the region; anything else reads like ReadDescriptor to the end.
bool ReadOpenFile(int fd, Sink& sink, Failure* failure);

// Whom a file read by readFile must belong to and which permission bits it may have. Both are
// checked with fstat(2) on the descriptor that is then read, never on the path (which could be
// replaced between a check and the open). -1: not checked.
struct FileRules {
  int64_t owner = -1;  // the uid the file must have
  int max_mode = -1;   // the bits of st_mode & 07777 it may have; any other is refused
};

// readFile's whole read: opens path (read-only, close-on-exec), checks `rules`
// (ERR_UNSAFE_FILE, before a byte is read), ReadOpenFile, closes it on every path. A missing
// file is ERR_NOT_FOUND, any other open, fstat or close failure ERR_IO.
bool ReadPath(const std::string& path, Sink& sink, Failure* failure, const FileRules& rules = FileRules{});

// Leaves a region of exactly the bytes read (ERR_EMPTY when there are none).
bool Finish(Sink& sink, Failure* failure);
// The last step of every reader: when the read went well (`ok`), Finish; on any failure
// (the read's or Finish's) Discard, so nothing is left behind. Returns whether the sink
// now holds the result.
bool Complete(Sink& sink, bool ok, Failure* failure);

}  // namespace strongroom
