// The delimiter reader's steps (see reader.h for how a region grows). Every syscall's
// result is checked: a failed read(2), poll(2) or fstat(2) becomes a Failure, and every
// failure path leaves the sink's region for Complete() to wipe and free.
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

namespace strongroom {
namespace {

// Moves the bytes read so far into a new region of `capacity` bytes. The old region is
// wiped and freed whether or not the new one could be allocated.
bool MoveTo(Sink& sink, size_t capacity, Failure* failure) {
  auto next = GuardedMemory::Allocate(capacity, sink.backend, sink.policy, failure);
  if (next) memcpy(next->data(), sink.memory->data(), sink.length);
  sink.memory->Release();
  sink.memory = std::move(next);
  return sink.memory != nullptr;
}

// One page (canary included) for a start, then doubling, never past max_size.
size_t FirstCapacity(const Sink& sink) { return std::min(sink.max_size, PageSize() - kCanarySize); }
size_t NextCapacity(const Sink& sink) { return std::min(sink.max_size, 2 * sink.memory->size() + kCanarySize); }

bool TooLarge(const Sink& sink, Failure* failure) {
  return Fail(failure, kTooLarge,
              "the input from " + sink.source + " is larger than maxSize (" + std::to_string(sink.max_size) +
                  " bytes); pass a larger maxSize (at most " + std::to_string(kMaxRegionSize) + ")");
}

bool ReadFailure(const Sink& sink, int err, Failure* failure) {
  if (err == EBADF) return Fail(failure, "ERR_INVALID_ARG", sink.source + " is not an open file descriptor for reading");
  return Fail(failure, "ERR_IO", "could not read " + sink.source + ": " + strerror(err));
}

enum class Step { kMore, kEnd, kFailed };

// The region is full: one byte read onto the stack tells the end (or the delimiter)
// from more input, which grows the region up to max_size and goes into it.
// The byte read past the region, wiped however Overflow ends: a message built for
// TooLarge or a region for MoveTo can throw std::bad_alloc.
class StackByte {
 public:
  StackByte() = default;
  ~StackByte() { sodium_memzero(&value, sizeof value); }
  StackByte(const StackByte&) = delete;
  StackByte& operator=(const StackByte&) = delete;
  uint8_t value = 0;
};

Step Overflow(int fd, int until, Sink& sink, Failure* failure) {
  StackByte read;
  uint8_t& byte = read.value;
  ssize_t n = ReadSome(fd, &byte, 1);
  Step step = Step::kFailed;
  if (n < 0) {
    ReadFailure(sink, errno, failure);
  } else if (n == 0 || byte == until) {
    step = Step::kEnd;
  } else if (sink.length == sink.max_size) {
    TooLarge(sink, failure);
  } else if (MoveTo(sink, NextCapacity(sink), failure)) {
    sink.memory->data()[sink.length++] = byte;
    step = Step::kMore;
  }
  return step;
}

}  // namespace

bool Reserve(Sink& sink, size_t capacity, Failure* failure) {
  sink.memory = GuardedMemory::Allocate(capacity, sink.backend, sink.policy, failure);
  return sink.memory != nullptr;
}

void Discard(Sink& sink) {
  if (sink.memory) sink.memory->Release();
  sink.memory.reset();
  sink.length = 0;
}

bool WaitFor(int fd, short events) {
  struct pollfd ready = {fd, events, 0};
  return poll(&ready, 1, -1) >= 0 || errno == EINTR;
}

ssize_t ReadSome(int fd, uint8_t* into, size_t length) {
  for (;;) {
    ssize_t n = read(fd, into, length);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if ((errno != EAGAIN && errno != EWOULDBLOCK) || !WaitFor(fd, POLLIN)) return -1;
  }
}

bool ReadAll(int fd, int until, Sink& sink, Failure* failure) {
  const bool bytewise = until != kNoDelimiter;
  for (;;) {
    size_t room = sink.memory->size() - sink.length;
    if (room == 0) {
      Step step = Overflow(fd, until, sink, failure);
      if (step != Step::kMore) return step == Step::kEnd;
      continue;
    }
    uint8_t* into = sink.memory->data() + sink.length;
    ssize_t n = ReadSome(fd, into, bytewise ? 1 : room);
    if (n < 0) return ReadFailure(sink, errno, failure);
    if (n == 0) return true;
    if (bytewise && *into == until) {
      *into = 0;
      return true;
    }
    sink.length += static_cast<size_t>(n);
  }
}

bool ReadDescriptor(int fd, int until, Sink& sink, Failure* failure) {
  return Reserve(sink, FirstCapacity(sink), failure) && ReadAll(fd, until, sink, failure);
}

// A regular file's size is known: too large fails before a byte is read, and the region
// has the right size from the start. Anything else (or a size of 0, like /proc files
// report) grows from one page.
bool ReadOpenFile(int fd, Sink& sink, Failure* failure) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return Fail(failure, "ERR_IO", "could not stat " + sink.source + ": " + strerror(errno));
  size_t capacity = FirstCapacity(sink);
  if (S_ISREG(st.st_mode) && st.st_size > 0) {
    if (static_cast<uint64_t>(st.st_size) > sink.max_size) return TooLarge(sink, failure);
    capacity = static_cast<size_t>(st.st_size);
  }
  return Reserve(sink, capacity, failure) && ReadAll(fd, kNoDelimiter, sink, failure);
}

// 0644, 0600, 04600: as chmod(1) takes it.
std::string Octal(unsigned mode) {
  char text[8];
  snprintf(text, sizeof text, "0%03o", mode & 07777u);
  return text;
}

// A path as one word for a POSIX shell: in single quotes, each ' written as '\''.
std::string ShellQuoted(const std::string& path) {
  std::string quoted = "'";
  for (char c : path) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

bool CheckRules(int fd, const std::string& path, const FileRules& rules, Failure* failure) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return Fail(failure, "ERR_IO", "could not stat " + path + ": " + strerror(errno));
  // Owner and mode speak for a file's content only when it is a regular file.
  if (S_ISDIR(st.st_mode)) return Fail(failure, "ERR_IO", "could not read " + path + ": Is a directory");
  if (!S_ISREG(st.st_mode)) {
    return Fail(failure, "ERR_IO",
                path + " is not a regular file (a FIFO, a socket or a device); with owner or maxMode only a regular "
                       "file is read");
  }
  if (rules.owner >= 0 && static_cast<int64_t>(st.st_uid) != rules.owner) {
    return Fail(failure, "ERR_UNSAFE_FILE",
                path + " belongs to uid " + std::to_string(st.st_uid) + ", not to uid " + std::to_string(rules.owner) +
                    " as required; give it to that user (chown) or replace it with a file of theirs");
  }
  const unsigned mode = static_cast<unsigned>(st.st_mode) & 07777u;
  const unsigned allowed = static_cast<unsigned>(rules.max_mode);
  if (rules.max_mode >= 0 && (mode & ~allowed) != 0) {
    return Fail(failure, "ERR_UNSAFE_FILE",
                path + " has mode " + Octal(mode) + ", wider than the " + Octal(allowed) + " allowed; run `chmod " +
                    Octal(mode & allowed) + " -- " + ShellQuoted(path) +
                    "`, and replace the secret if others could have read it");
  }
  return true;
}

bool ReadPath(const std::string& path, Sink& sink, Failure* failure, const FileRules& rules) {
  // With rules, a FIFO put at the path must not block the open before CheckRules refuses it
  // (O_NONBLOCK changes nothing for the regular file that is then read).
  const bool ruled = rules.owner >= 0 || rules.max_mode >= 0;
  int fd;
  do {
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | (ruled ? O_NONBLOCK : 0));
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) return Fail(failure, "ERR_NOT_FOUND", path + " does not exist");
    return Fail(failure, "ERR_IO", "could not open " + path + ": " + (err == EACCES ? "permission denied" : strerror(err)));
  }
  bool ok;
  try {
    ok = (!ruled || CheckRules(fd, path, rules, failure)) && ReadOpenFile(fd, sink, failure);
  } catch (...) {
    // std::bad_alloc (a region, a message): the descriptor is not leaked (Linux releases it
    // even when close fails, and the exception in flight is the failure reported).
    (void)close(fd);
    throw;
  }
  if (close(fd) != 0 && errno != EINTR && ok) ok = Fail(failure, "ERR_IO", "could not close " + path + ": " + strerror(errno));
  return ok;
}

bool Finish(Sink& sink, Failure* failure) {
  if (sink.length == 0) {
    return Fail(failure, "ERR_EMPTY", "nothing was read from " + sink.source + ", and a region cannot be empty");
  }
  if (sink.length == sink.memory->size()) return true;
  return MoveTo(sink, sink.length, failure);
}

bool Complete(Sink& sink, bool ok, Failure* failure) {
  if (ok) ok = Finish(sink, failure);
  if (!ok) Discard(sink);
  return ok;
}

bool ReadTerminalLine(int fd, Sink& sink, Failure* failure) {
  uint8_t* data = sink.memory->data();
  const size_t capacity = sink.memory->size();
  ssize_t n = ReadSome(fd, data, capacity);
  if (n < 0) return ReadFailure(sink, errno, failure);
  sink.length = static_cast<size_t>(n);
  if (sink.length > 0 && data[sink.length - 1] == '\n') {
    data[--sink.length] = 0;  // the newline is not kept
    return true;
  }
  if (sink.length < capacity) return true;  // the end (Ctrl-D) before a newline
  // Full: either exactly maxSize bytes with the newline still to come, or a longer line.
  uint8_t byte = 0;
  n = ReadSome(fd, &byte, 1);
  if (n < 0) return ReadFailure(sink, errno, failure);
  if (n == 0 || byte == '\n') return true;
  sodium_memzero(&byte, sizeof byte);
  return TooLarge(sink, failure);
}

}  // namespace strongroom
