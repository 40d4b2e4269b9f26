// libFuzzer target for the delimiter reader (native/reader.cc): what readFd runs, without
// Node. Built and run by scripts/fuzz.mjs with -fsanitize=fuzzer,address,undefined.
//
// An input is a header of six bytes, then the rest:
//   [0] flags   bit 0: a delimiter (else read to the end); bit 1: a non-blocking read end;
//               bit 2: a writer thread trickles the bytes in chunks, each once the reader
//               has taken the one before, so that a non-blocking reader meets EAGAIN and
//               polls; after 8 chunks the rest goes at once (else all are written before
//               the read, and the write end closed);
//               bits 3-5, the descriptor (kKinds): 0 to 4 a pipe (even) or a stream
//               socketpair (odd); 5 a regular file (a memfd) read by ReadOpenFile as readFile
//               reads one, with no delimiter; 6 one open for writing only (EBADF); 7 a
//               directory (EISDIR)
//   [1] until   the delimiter byte
//   [2,3] maxSize, at most 16 KiB, so the region grows from one page up to maxSize and
//               ERR_TOO_LARGE is reached: [2] % 4 == 0: 1 + ([2] / 4) * 256 + [3];
//               else Capacity(k) + [3] % 16 - 8 with k = [2] % 4, near where the region
//               fills up for the kth time
//   [4] chunk   the writer thread's chunk size, 1 + [4]
//   [5] bytes   bit 7 clear: the bytes are the rest of the input. Bit 7 set: they are made
//               (so that a short input reaches the long ones at the boundaries): the rest
//               of the input, cut or padded with a byte that is not the delimiter to a
//               length of maxSize (bit 6 clear) or Capacity(1 + [5] / 16 % 3) (bit 6 set),
//               + [5] % 16 - 8; then, with a delimiter, the delimiter and one byte more
//
// Each run checks the reader against a model of what it must do: the region holds exactly
// the bytes before the delimiter (not kept) or before the end; ERR_EMPTY, ERR_TOO_LARGE,
// ERR_INVALID_ARG or ERR_IO exactly when they are due; nothing after the delimiter is
// consumed, and past maxSize exactly maxSize + 1 bytes are; every region the reader
// allocated is freed (the counters are back to zero), and every freed region it left in
// the spare pool holds only zeros. ASan and UBSan catch the rest (overflows, use after
// free, undefined behaviour). A violated check prints one line and aborts, which libFuzzer
// reports as a crash and saves the input of.
//
// -DSTRONGROOM_FUZZ_PLANTED_BUG builds the model with an off-by-one (a prefix of exactly
// maxSize bytes is expected to be too large): test/fuzz.test.ts proves with it that the
// fuzzer finds a wrong expectation from an empty corpus within its time bound.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "guarded_memory.h"
#include "reader.h"

namespace {

using strongroom::Counters;
using strongroom::Failure;
using strongroom::GuardedMemory;
using strongroom::Sink;

constexpr size_t kHeaderSize = 6;
// Every input fits in a pipe (64 KiB), so it can be written before the read; scripts/fuzz.mjs
// passes -max_len=20000, and a larger file replayed by hand is refused.
constexpr size_t kMaxInputSize = 32768;

[[noreturn]] void Violated(const std::string& what) {
  fprintf(stderr, "delimiter_reader: invariant violated: %s\n", what.c_str());
  abort();
}

void Require(bool holds, const std::string& what) {
  if (!holds) Violated(what);
}

enum class Kind { kPipe, kSocket, kFile, kWriteOnly, kDirectory };
constexpr Kind kKinds[8] = {Kind::kPipe, Kind::kSocket, Kind::kPipe,  Kind::kSocket,
                            Kind::kPipe, Kind::kFile,   Kind::kWriteOnly, Kind::kDirectory};

struct Input {
  bool delimited;
  bool nonblocking;
  bool trickle;
  Kind kind;
  int until;
  size_t max_size;
  size_t chunk;
  std::vector<uint8_t> bytes;
};

// Where the reader's region fills up, k = 1, 2, 3 (4080, 8176, 16368 bytes with 4 KiB
// pages): one page less the canary, then twice that plus the canary, as it grows.
size_t Capacity(unsigned k) {
  size_t capacity = strongroom::PageSize() - strongroom::kCanarySize;
  while (--k > 0) capacity = 2 * capacity + strongroom::kCanarySize;
  return capacity;
}

// n + delta % 16 - 8, at least `floor`.
size_t Near(size_t n, uint8_t delta, size_t floor) {
  const size_t shifted = n + (delta & 15);
  return shifted < floor + 8 ? floor : shifted - 8;
}

size_t MaxSize(uint8_t selector, uint8_t value) {
  if (selector % 4 == 0) return 1 + ((size_t{selector} / 4) << 8 | value);
  return Near(Capacity(selector % 4), value, 1);
}

// The bytes of the input, as they are or made to a length (see the table above).
std::vector<uint8_t> Bytes(const Input& in, uint8_t mode, const uint8_t* rest, size_t rest_length) {
  if (!(mode & 0x80)) return std::vector<uint8_t>(rest, rest + rest_length);
  const size_t length = Near(mode & 0x40 ? Capacity(1 + (mode >> 4) % 3) : in.max_size, mode, 0);
  std::vector<uint8_t> bytes(rest, rest + std::min(length, rest_length));
  bytes.resize(length, static_cast<uint8_t>(in.delimited ? in.until + 1 : 'x'));
  if (in.delimited) bytes.insert(bytes.end(), {static_cast<uint8_t>(in.until), 'z'});
  return bytes;
}

Input Parse(const uint8_t* data, size_t size) {
  const uint8_t flags = data[0];
  Input in{};
  in.kind = kKinds[(flags >> 3) & 7];
  in.delimited = (flags & 1) && in.kind != Kind::kFile;
  in.nonblocking = flags & 2;
  in.trickle = flags & 4;
  in.until = in.delimited ? data[1] : strongroom::kNoDelimiter;
  in.max_size = MaxSize(data[2], data[3]);
  in.chunk = 1 + size_t{data[4]};
  in.bytes = Bytes(in, data[5], data + kHeaderSize, size - kHeaderSize);
  return in;
}

// What the reader must do with an input.
struct Expected {
  const char* code = nullptr;  // nullptr: a region of `result` bytes
  size_t result = 0;           // the prefix of the bytes the region holds
  size_t consumed = 0;         // how many bytes the reader takes from the descriptor
};

Expected Model(const Input& in) {
  if (in.kind == Kind::kWriteOnly) return {"ERR_INVALID_ARG", 0, 0};
  if (in.kind == Kind::kDirectory) return {"ERR_IO", 0, 0};
  const size_t length = in.bytes.size();
  const auto end = in.delimited ? std::find(in.bytes.begin(), in.bytes.end(), in.until) : in.bytes.end();
  const bool found = end != in.bytes.end();
  const size_t prefix = static_cast<size_t>(end - in.bytes.begin());
#ifdef STRONGROOM_FUZZ_PLANTED_BUG
  const bool too_large = prefix >= in.max_size;  // the deliberate off-by-one
#else
  const bool too_large = prefix > in.max_size;
#endif
  // A regular file's size is checked before a byte is read.
  if (too_large) return {strongroom::kTooLarge, 0, in.kind == Kind::kFile ? 0 : in.max_size + 1};
  const size_t consumed = found ? prefix + 1 : length;
  if (prefix == 0) return {"ERR_EMPTY", 0, consumed};
  return {nullptr, prefix, consumed};
}

// Whether the reader has taken every byte written so far (FIONREAD works on either end).
bool Drained(int read_end) {
  int queued = 0;
  Require(ioctl(read_end, FIONREAD, &queued) == 0, std::string("ioctl(FIONREAD): ") + strerror(errno));
  return queued == 0;
}

// Writes in chunks; with `wait_for` (a read end), each chunk after the first waits until
// the one before was read. After kTrickledChunks the rest goes at once: a few waits reach
// the reader's EAGAIN path, thousands would only slow every run down.
constexpr int kTrickledChunks = 8;
bool WriteAll(int fd, const uint8_t* bytes, size_t length, size_t chunk, int wait_for) {
  for (int written = 0; length > 0; written++) {
    if (written > 0 && wait_for >= 0) {
      while (!Drained(wait_for)) sched_yield();
    }
    ssize_t n = write(fd, bytes, written < kTrickledChunks ? std::min(length, chunk) : length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes += n;
    length -= static_cast<size_t>(n);
  }
  return true;
}

// Everything left in the descriptor once the writer is done (a non-blocking one is polled).
std::vector<uint8_t> Rest(int fd) {
  std::vector<uint8_t> rest;
  uint8_t buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n > 0) {
      rest.insert(rest.end(), buffer, buffer + n);
    } else if (n == 0) {
      return rest;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      struct pollfd ready = {fd, POLLIN, 0};
      Require(poll(&ready, 1, 5000) >= 0 || errno == EINTR, std::string("poll: ") + strerror(errno));
    } else {
      Require(errno == EINTR, std::string("reading the rest: ") + strerror(errno));
    }
  }
}

bool AllZero(const uint8_t* bytes, size_t length) {
  uint8_t any = 0;
  for (size_t i = 0; i < length; i++) any |= bytes[i];
  return any == 0;
}

// Takes back every spare region (those the reader freed: the pool is emptied after each
// run), reading each whole data span, which covers every byte an earlier region of that
// shape could have held. Then gives them all back and empties the pool.
void ExpectSparesWiped(size_t max_size) {
  const size_t page = strongroom::PageSize();
  const size_t max_pages = (max_size + strongroom::kCanarySize + page - 1) / page;
  std::vector<std::shared_ptr<GuardedMemory>> taken;
  for (size_t pages = 1; pages <= max_pages && Counters().spare_regions.load() > 0; pages++) {
    for (;;) {
      const int64_t before = Counters().spare_regions.load();
      Failure failure;
      auto memory = GuardedMemory::Allocate(pages * page - strongroom::kCanarySize, strongroom::Backend::kMmap,
                                            strongroom::MlockPolicy::kBestEffort, &failure);
      Require(memory != nullptr, std::string("allocating a spare back: ") + (failure.code ? failure.code : "?"));
      Require(AllZero(memory->data(), memory->size()), "a freed region of " + std::to_string(pages) + " pages was not wiped");
      taken.push_back(std::move(memory));
      if (Counters().spare_regions.load() == before || Counters().spare_regions.load() == 0) break;
    }
  }
  Require(Counters().spare_regions.load() == 0, "a spare region larger than maxSize allows");
  for (auto& memory : taken) memory->Release();
  strongroom::ReleaseSpareRegions();
}

void CloseOrDie(int fd) { Require(close(fd) == 0, std::string("close: ") + strerror(errno)); }

// What the reader reads from: `fd`, and what feeds it.
struct Source {
  int fd = -1;
  int ends[2] = {-1, -1};  // a pipe's or a socketpair's: [0] is read, [1] written
  std::thread writer;      // trickle mode
};

void MakeChannel(const Input& in, Source& source) {
  int* ends = source.ends;
  int made = in.kind == Kind::kSocket ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) : pipe2(ends, O_CLOEXEC);
  Require(made == 0, std::string("pipe/socketpair: ") + strerror(errno));
  if (in.nonblocking) {
    int flags = fcntl(ends[0], F_GETFL);
    Require(flags >= 0 && fcntl(ends[0], F_SETFL, flags | O_NONBLOCK) == 0, std::string("fcntl: ") + strerror(errno));
  }
  source.fd = in.kind == Kind::kWriteOnly ? ends[1] : ends[0];
  if (in.kind == Kind::kWriteOnly) return;
  auto feed = [&in, ends] {
    const size_t length = in.bytes.size();
    Require(WriteAll(ends[1], in.bytes.data(), length, in.trickle ? in.chunk : length, in.trickle ? ends[0] : -1),
            "writing the input");
    CloseOrDie(ends[1]);
  };
  // Up front, the bytes fit: a pipe holds 64 KiB, and inputs are at most kMaxInputSize.
  if (in.trickle) source.writer = std::thread(feed); else feed();
}

void MakeFile(const Input& in, Source& source) {
  source.fd = memfd_create("delimiter_reader", MFD_CLOEXEC);
  Require(source.fd >= 0, std::string("memfd_create: ") + strerror(errno));
  Require(WriteAll(source.fd, in.bytes.data(), in.bytes.size(), in.bytes.size(), -1) && lseek(source.fd, 0, SEEK_SET) == 0,
          "writing the input to a memfd");
}

void Open(const Input& in, Source& source) {
  static const int directory = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  Require(directory >= 0, std::string("open /: ") + strerror(errno));
  if (in.kind == Kind::kDirectory) source.fd = directory;
  else if (in.kind == Kind::kFile) MakeFile(in, source);
  else MakeChannel(in, source);
}

// How many bytes the reader took (everything left is read out, after the writer is done);
// then closes what Open made.
size_t ConsumedAndClose(const Input& in, Source& source) {
  size_t consumed = 0;
  if (in.kind == Kind::kFile) {
    off_t offset = lseek(source.fd, 0, SEEK_CUR);
    Require(offset >= 0, std::string("lseek: ") + strerror(errno));
    consumed = static_cast<size_t>(offset);
    CloseOrDie(source.fd);
  } else if (in.kind == Kind::kPipe || in.kind == Kind::kSocket) {
    const std::vector<uint8_t> rest = Rest(source.ends[0]);
    if (source.writer.joinable()) source.writer.join();
    Require(rest.size() <= in.bytes.size() && std::equal(rest.rbegin(), rest.rend(), in.bytes.rbegin()),
            "what was left in the descriptor is not the end of the input");
    consumed = in.bytes.size() - rest.size();
    CloseOrDie(source.ends[0]);
  } else if (in.kind == Kind::kWriteOnly) {
    CloseOrDie(source.ends[0]);
    CloseOrDie(source.ends[1]);
  }
  return consumed;
}

// What readFd runs (ReadDescriptor, then Complete), or readFile for a regular file.
bool Read(const Input& in, int fd, Sink& sink, Failure* failure) {
  sink.max_size = in.max_size;
  sink.policy = strongroom::MlockPolicy::kBestEffort;  // an RLIMIT_MEMLOCK is not the reader's concern
  sink.source = "fd " + std::to_string(fd);
  bool ok = in.kind == Kind::kFile ? strongroom::ReadOpenFile(fd, sink, failure)
                                   : strongroom::ReadDescriptor(fd, in.until, sink, failure);
  return strongroom::Complete(sink, ok, failure);
}

std::string Outcome(bool ok, const Sink& sink, const Failure& failure) {
  if (ok) return "a region of " + std::to_string(sink.memory ? sink.memory->size() : 0) + " bytes";
  return failure.code ? failure.code : "a failure without a code";
}

// The result against the model; a region is then freed as free() would.
void CheckResult(const Input& in, const Expected& expected, bool ok, Sink& sink, const Failure& failure) {
  const std::string wanted = expected.code ? expected.code : "a region of " + std::to_string(expected.result) + " bytes";
  const bool as_expected = expected.code ? !ok && failure.code && strcmp(failure.code, expected.code) == 0
                                         : ok && sink.memory && sink.memory->size() == expected.result;
  Require(as_expected, "expected " + wanted + ", got " + Outcome(ok, sink, failure));
  if (!ok) {
    Require(!failure.message.empty() && !sink.memory && sink.length == 0, "a failure left a region, or has no message");
    return;
  }
  Require(sink.length == expected.result, "the sink's length differs from its region's size");
  Require(std::equal(in.bytes.begin(), in.bytes.begin() + expected.result, sink.memory->data()),
          "the region differs from the input's prefix");
  sink.memory->Release();
  sink.memory.reset();
}

void Check(const Input& in) {
  const Expected expected = Model(in);
  Source source;
  Open(in, source);
  Sink sink;
  Failure failure;
  const bool ok = Read(in, source.fd, sink, &failure);
  CheckResult(in, expected, ok, sink, failure);
  const size_t consumed = ConsumedAndClose(in, source);
  Require(consumed == expected.consumed,
          "expected " + std::to_string(expected.consumed) + " bytes consumed, " + std::to_string(consumed) + " were");
  Require(Counters().regions.load() == 0 && Counters().orphaned_regions.load() == 0,
          "regions left allocated: " + std::to_string(Counters().regions.load()));
  ExpectSparesWiped(in.max_size);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (sodium_init() < 0) Violated("sodium_init failed");
  signal(SIGPIPE, SIG_IGN);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kHeaderSize || size > kMaxInputSize) return -1;  // not an input: kept out of the corpus
  Check(Parse(data, size));
  return 0;
}
