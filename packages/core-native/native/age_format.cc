// age v1's text: armor, header, base64 and bech32 (age_format.h). Strict everywhere the
// spec says MUST: canonical base64 without padding in the header, stanza bodies wrapped
// at exactly 64 columns with a short final line, exactly the arguments each native stanza
// type has, and an scrypt stanza alone in its header.
#include "age_format.h"

#include <sodium.h>

#include <cstring>
#include <string>

#include "age.h"

namespace strongroom {
namespace {

constexpr char kArmorBegin[] = "-----BEGIN AGE ENCRYPTED FILE-----";
constexpr char kArmorEnd[] = "-----END AGE ENCRYPTED FILE-----";
constexpr size_t kArmorColumns = 64;
constexpr size_t kArmorBytesPerLine = 48;
// Whitespace accepted before and after the armored block, as age's reader: less than 1 KiB.
constexpr size_t kMaxArmorWhitespace = 1024;

constexpr char kVersionLine[] = "age-encryption.org/v1\n";
constexpr char kVersionPrefix[] = "age-encryption.org/";
constexpr size_t kBodyColumns = 64;
constexpr size_t kBodyBytesPerLine = 48;
constexpr char kMacMark[] = "---";

bool Format(Failure* failure, const std::string& why) {
  return Fail(failure, kAgeFormat, "the file is not a well-formed age v1 file: " + why);
}

bool IsSpace(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

bool Equals(const uint8_t* data, size_t length, const char* text) {
  return length == strlen(text) && memcmp(data, text, length) == 0;
}

bool InAlphabet(uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// Canonical base64 of in[0..length) into out (at most capacity bytes): padded or not, as
// `variant` says; anything else (a stray character, '=' where none belongs, non-zero
// trailing bits, too long) is false. libsodium's decoder rejects non-canonical trailing
// bits itself and parsed_end catches a stop before the end, but libsodium 1.0.18 reads
// every byte from 0x80 up as '/' (its comparisons run on a sign-extended char): so every
// character is checked against the alphabet first. Without that check the MAC line, which
// the MAC does not cover, would accept a '/' changed into any such byte.
bool Base64(const uint8_t* in, size_t length, uint8_t* out, size_t capacity, size_t* out_length, int variant) {
  const bool padded = variant == sodium_base64_VARIANT_ORIGINAL;
  for (size_t i = 0; i < length; i++) {
    if (!InAlphabet(in[i]) && !(padded && in[i] == '=')) return false;
  }
  const char* end = nullptr;
  const char* text = reinterpret_cast<const char*>(in);
  if (sodium_base642bin(out, capacity, text, length, nullptr, out_length, &end, variant) != 0) return false;
  return end == text + length;
}

bool RawBase64(const uint8_t* in, size_t length, uint8_t* out, size_t capacity, size_t* out_length) {
  return Base64(in, length, out, capacity, out_length, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

// A base64 argument that must decode to exactly `size` bytes.
bool ExactBase64(const uint8_t* in, size_t length, uint8_t* out, size_t size) {
  uint8_t scratch[64];
  size_t n = 0;
  if (size > sizeof scratch || !RawBase64(in, length, scratch, sizeof scratch, &n) || n != size) return false;
  memcpy(out, scratch, size);
  return true;
}

// ---- armor ----

// The line at *pos (up to '\n' or the end), without its "\n" or "\r\n". False at the end.
bool ArmorLine(const uint8_t* file, size_t length, size_t* pos, const uint8_t** line, size_t* line_length) {
  if (*pos >= length) return false;
  const uint8_t* start = file + *pos;
  const void* newline = memchr(start, '\n', length - *pos);
  size_t n = newline ? static_cast<size_t>(static_cast<const uint8_t*>(newline) - start) : length - *pos;
  *pos += n + (newline ? 1 : 0);
  if (n > 0 && start[n - 1] == '\r') n--;
  *line = start;
  *line_length = n;
  return true;
}

bool OnlyTrailingWhitespace(const uint8_t* file, size_t length, size_t pos, Failure* failure) {
  size_t rest = length - pos;
  for (size_t i = pos; i < length; i++) {
    if (!IsSpace(file[i])) return Format(failure, "there is data after the armor's END line");
  }
  if (rest >= kMaxArmorWhitespace) return Format(failure, "there is 1 KiB or more of whitespace after the armor");
  return true;
}

size_t LeadingWhitespace(const uint8_t* file, size_t length) {
  size_t i = 0;
  while (i < length && i <= kMaxArmorWhitespace && IsSpace(file[i])) i++;
  return i;
}

// ---- header ----

// The header line at *pos, without its '\n' (which must be there).
bool HeaderLine(const uint8_t* file, size_t length, size_t* pos, const uint8_t** line, size_t* line_length) {
  if (*pos >= length) return false;
  const uint8_t* start = file + *pos;
  const void* newline = memchr(start, '\n', length - *pos);
  if (newline == nullptr) return false;
  *line = start;
  *line_length = static_cast<size_t>(static_cast<const uint8_t*>(newline) - start);
  *pos += *line_length + 1;
  return true;
}

struct Argument {
  const uint8_t* data;
  size_t length;
};

// "-> " arguments separated by single spaces, each 1*VCHAR. Keeps the first three and
// the count.
bool SplitArguments(const uint8_t* line, size_t length, Argument* args, size_t* count) {
  *count = 0;
  size_t i = 3;  // after "-> "
  while (true) {
    size_t start = i;
    while (i < length && line[i] != ' ') {
      if (line[i] < 0x21 || line[i] > 0x7e) return false;
      i++;
    }
    if (i == start) return false;  // an empty argument (two spaces, or a trailing space)
    if (*count < 3) args[*count] = {line + start, i - start};
    (*count)++;
    if (i == length) return true;
    i++;  // the space
  }
}

std::string StanzaName(size_t index) { return "stanza " + std::to_string(index + 1); }

// A decimal without leading zeros (^[1-9][0-9]*$). A value above 99 is kept as 99: it is
// above every bound, and AgeDecrypt refuses it as too large.
bool ParseWorkFactor(const Argument& arg, unsigned* log_n) {
  if (arg.length == 0 || arg.data[0] < '1' || arg.data[0] > '9') return false;
  unsigned n = 0;
  for (size_t i = 0; i < arg.length; i++) {
    if (arg.data[i] < '0' || arg.data[i] > '9') return false;
    n = n * 10 + static_cast<unsigned>(arg.data[i] - '0');
    if (n > 99) n = 99;
  }
  *log_n = n;
  return true;
}

// The arguments of a native stanza type, as the spec requires them.
bool CheckStanza(AgeStanza* stanza, const Argument* args, size_t count, size_t body_length, size_t index,
                 Failure* failure) {
  if (Equals(args[0].data, args[0].length, "X25519")) {
    stanza->type = AgeStanzaType::kX25519;
    if (count != 2) return Format(failure, StanzaName(index) + " (X25519) must have exactly two arguments");
    if (!ExactBase64(args[1].data, args[1].length, stanza->share, kAgeX25519Bytes)) {
      return Format(failure, StanzaName(index) + " (X25519) has a share that is not canonical base64 of 32 bytes");
    }
  } else if (Equals(args[0].data, args[0].length, "scrypt")) {
    stanza->type = AgeStanzaType::kScrypt;
    if (count != 3) return Format(failure, StanzaName(index) + " (scrypt) must have exactly three arguments");
    if (!ExactBase64(args[1].data, args[1].length, stanza->salt, kAgeScryptSaltBytes)) {
      return Format(failure, StanzaName(index) + " (scrypt) has a salt that is not canonical base64 of 16 bytes");
    }
    if (!ParseWorkFactor(args[2], &stanza->log_n)) {
      return Format(failure, StanzaName(index) + " (scrypt) has a work factor that is not a decimal without leading zeros");
    }
  } else {
    return true;  // another recipient type: its body is not read
  }
  if (body_length != kAgeBodyBytes) {
    return Format(failure, StanzaName(index) + " has a body of " + std::to_string(body_length) +
                               " bytes, and a wrapped file key is exactly 32");
  }
  return true;
}

}  // namespace

bool AgeIsArmored(const uint8_t* file, size_t length) {
  size_t start = LeadingWhitespace(file, length);
  size_t n = sizeof kArmorBegin - 1;
  return length - start >= n && memcmp(file + start, kArmorBegin, n) == 0;
}

bool AgeDearmor(uint8_t* file, size_t length, size_t* binary_length, Failure* failure) {
  size_t pos = LeadingWhitespace(file, length);
  if (pos > kMaxArmorWhitespace) return Format(failure, "there is more than 1 KiB of whitespace before the armor");
  const uint8_t* line = nullptr;
  size_t n = 0;
  if (!ArmorLine(file, length, &pos, &line, &n) || !Equals(line, n, kArmorBegin)) {
    return Format(failure, "the armor does not start with a line " + std::string(kArmorBegin));
  }
  size_t written = 0;
  for (size_t number = 2;; number++) {
    if (!ArmorLine(file, length, &pos, &line, &n)) return Format(failure, "the armor ends without its END line");
    if (Equals(line, n, kArmorEnd)) break;
    if (n > kArmorColumns) {
      return Format(failure, "armor line " + std::to_string(number) + " is longer than 64 columns");
    }
    uint8_t bytes[kArmorBytesPerLine];
    size_t decoded = 0;
    if (!Base64(line, n, bytes, sizeof bytes, &decoded, sodium_base64_VARIANT_ORIGINAL)) {
      return Format(failure, "armor line " + std::to_string(number) + " is not canonical padded base64");
    }
    // The decoded bytes go where the text was: `written` never passes the line's start.
    memcpy(file + written, bytes, decoded);
    written += decoded;
    if (decoded < kArmorBytesPerLine) {
      if (!ArmorLine(file, length, &pos, &line, &n) || !Equals(line, n, kArmorEnd)) {
        return Format(failure, "armor line " + std::to_string(number) +
                                   " is short (only the last may be) and is not followed by the END line");
      }
      break;
    }
  }
  if (!OnlyTrailingWhitespace(file, length, pos, failure)) return false;
  *binary_length = written;
  return true;
}

bool AgeParseHeader(const uint8_t* file, size_t length, AgeHeader* header, Failure* failure) {
  size_t pos = 0;
  const uint8_t* line = nullptr;
  size_t n = 0;
  const size_t prefix = sizeof kVersionPrefix - 1;
  if (length < prefix || memcmp(file, kVersionPrefix, prefix) != 0) {
    return Format(failure, "it does not start with age-encryption.org/ (binary) or an armor BEGIN line");
  }
  const size_t version = sizeof kVersionLine - 1;
  if (length < version || memcmp(file, kVersionLine, version) != 0) {
    return Format(failure, "its version is not v1 (only age-encryption.org/v1 is supported)");
  }
  pos = version;
  for (;;) {
    if (!HeaderLine(file, length, &pos, &line, &n)) return Format(failure, "the header ends before its MAC line");
    if (n >= 3 && memcmp(line, kMacMark, 3) == 0) break;
    if (n < 3 || memcmp(line, "-> ", 3) != 0) {
      return Format(failure, "a header line after the version is neither a stanza (-> ) nor the MAC line (---)");
    }
    const size_t index = header->stanza_count;
    Argument args[3] = {};
    size_t count = 0;
    if (!SplitArguments(line, n, args, &count)) {
      return Format(failure, StanzaName(index) + " has an empty argument or a character that is not printable ASCII");
    }
    // The body: lines of exactly 64 columns, then one shorter line (possibly empty).
    AgeStanza stanza;
    size_t body_length = 0;
    for (;;) {
      if (!HeaderLine(file, length, &pos, &line, &n)) return Format(failure, "the header ends inside " + StanzaName(index));
      if (n > kBodyColumns) return Format(failure, StanzaName(index) + " has a body line longer than 64 columns");
      uint8_t bytes[kBodyBytesPerLine];
      size_t decoded = 0;
      if (!RawBase64(line, n, bytes, sizeof bytes, &decoded)) {
        return Format(failure, StanzaName(index) + " has a body line that is not canonical unpadded base64");
      }
      if (body_length + decoded <= kAgeBodyBytes) memcpy(stanza.body + body_length, bytes, decoded);
      body_length += decoded;
      if (n < kBodyColumns) break;
    }
    if (!CheckStanza(&stanza, args, count, body_length, index, failure)) return false;
    // Only the stanzas of the native types are kept (about one stanza's size per 100 bytes
    // of file); the others are only counted.
    if (stanza.type != AgeStanzaType::kOther) header->stanzas.push_back(stanza);
    header->stanza_count++;
  }
  if (header->stanza_count == 0) return Format(failure, "the header has no recipient stanza");
  // "--- " and 43 characters of base64: the 32-byte MAC.
  if (n < 4 || line[3] != ' ' || !ExactBase64(line + 4, n - 4, header->mac, kAgeMacBytes)) {
    return Format(failure, "the MAC line is not \"--- \" followed by the canonical base64 of 32 bytes");
  }
  for (const AgeStanza& stanza : header->stanzas) {
    if (stanza.type == AgeStanzaType::kScrypt && header->stanza_count != 1) {
      return Format(failure, "an scrypt (passphrase) stanza must be the only stanza of its header, and this one has " +
                                 std::to_string(header->stanza_count));
    }
  }
  header->mac_input_length = static_cast<size_t>(line - file) + 3;
  header->payload_offset = pos;
  return true;
}

// ---- identities ----

namespace {

constexpr char kBech32Charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr size_t kChecksumChars = 6;
// 32 bytes are 52 groups of five bits (four padding bits, which must be zero).
constexpr size_t kIdentityDataChars = 52;

uint32_t Polymod(uint32_t checksum, uint32_t value) {
  static const uint32_t kGenerator[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  uint32_t top = checksum >> 25;
  checksum = ((checksum & 0x1ffffff) << 5) ^ value;
  // Every generator term is folded in by mask, not by branch: the bits are secret.
  for (int i = 0; i < 5; i++) checksum ^= kGenerator[i] & (0U - ((top >> i) & 1U));
  return checksum;
}

// ASCII lower case without a branch on the character (identity text is secret).
uint8_t Lower(uint8_t c) {
  return static_cast<uint8_t>(c | (static_cast<unsigned>(static_cast<unsigned>(c) - 'A' < 26U) << 5));
}

// The five-bit value of a bech32 character (case already checked), or -1. A scan of the
// whole alphabet with no early exit, so the time does not depend on the character.
int Bech32Value(uint8_t c) {
  uint8_t lower = Lower(c);
  int value = -1;
  for (int i = 0; i < 32; i++) {
    int match = lower == static_cast<uint8_t>(kBech32Charset[i]);
    value = (value & (match - 1)) | (i & -match);
  }
  return value;
}

// Iterates over the lines of the text: *line and *n for each, without "\n" or "\r\n".
bool NextLine(const uint8_t* text, size_t length, size_t* pos, const uint8_t** line, size_t* n) {
  const uint8_t* dummy = nullptr;
  size_t before = *pos;
  if (!ArmorLine(text, length, pos, &dummy, n)) return false;
  *line = text + before;
  return true;
}

bool IsIdentityLine(const uint8_t* line, size_t n) { return n > 0 && line[0] != '#'; }

// A bech32 string of `prefix` (the human-readable part and the separator, lower case) and
// 32 bytes of data, all upper or all lower case, checksum verified (bech32, not bech32m),
// decoded into out[0..32). The bits go straight from the text into `out`; the
// accumulator and checksum live in locals the caller's stack scrub covers (for an identity
// they are secret).
bool Bech32Decode32(const uint8_t* line, size_t n, const char* prefix, uint8_t* out) {
  const size_t prefix_length = strlen(prefix);
  if (n != prefix_length + kIdentityDataChars + kChecksumChars) return false;
  const size_t hrp = prefix_length - 1;  // without the separator '1'
  const bool upper = line[0] >= 'A' && line[0] <= 'Z';
  for (size_t i = 0; i < prefix_length; i++) {
    uint8_t want = static_cast<uint8_t>(prefix[i]);
    if (line[i] != (upper && want >= 'a' && want <= 'z' ? want - 32 : want)) return false;
  }
  uint32_t checksum = 1;
  for (size_t i = 0; i < hrp; i++) checksum = Polymod(checksum, Lower(line[i]) >> 5);
  checksum = Polymod(checksum, 0);
  for (size_t i = 0; i < hrp; i++) checksum = Polymod(checksum, Lower(line[i]) & 31);
  uint32_t accumulator = 0;
  unsigned bits = 0;
  size_t written = 0;
  bool ok = true;
  for (size_t i = hrp + 1; i < n; i++) {
    uint8_t c = line[i];
    bool is_upper = c >= 'A' && c <= 'Z';
    bool is_lower = c >= 'a' && c <= 'z';
    ok &= !(upper ? is_lower : is_upper);
    int value = Bech32Value(c);
    ok &= value >= 0;
    uint32_t v = static_cast<uint32_t>(value) & 31U;
    checksum = Polymod(checksum, v);
    if (i < n - kChecksumChars) {
      accumulator = ((accumulator << 5) | v) & 0xfffU;
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        out[written++] = static_cast<uint8_t>(accumulator >> bits);
      }
    }
  }
  // Four padding bits left, all zero; the checksum must be 1.
  ok &= written == kAgeX25519Bytes && bits == 4 && (accumulator & 0xfU) == 0 && checksum == 1;
  accumulator = 0;
  checksum = 0;
  __asm__ __volatile__("" : : "r"(accumulator), "r"(checksum) : "memory");
  if (!ok) sodium_memzero(out, kAgeX25519Bytes);
  return ok;
}

bool DecodeIdentity(const uint8_t* line, size_t n, uint8_t* scalar) {
  return Bech32Decode32(line, n, "age-secret-key-1", scalar);
}

}  // namespace

size_t AgeCountIdentityLines(const uint8_t* text, size_t length) {
  size_t pos = 0;
  size_t count = 0;
  const uint8_t* line = nullptr;
  size_t n = 0;
  while (NextLine(text, length, &pos, &line, &n)) count += IsIdentityLine(line, n) ? 1 : 0;
  return count;
}

bool AgeDecodeIdentities(const uint8_t* text, size_t length, uint8_t* scalars, size_t count, Failure* failure) {
  size_t pos = 0;
  size_t index = 0;
  size_t number = 0;
  const uint8_t* line = nullptr;
  size_t n = 0;
  while (NextLine(text, length, &pos, &line, &n)) {
    number++;
    if (!IsIdentityLine(line, n)) continue;
    if (index == count || !DecodeIdentity(line, n, scalars + index * kAgeX25519Bytes)) {
      return Fail(failure, "ERR_INVALID_ARG",
                  "line " + std::to_string(number) +
                      " of the identity is not an X25519 identity: each line that is neither empty nor a # comment "
                      "must be an AGE-SECRET-KEY-1… key as age-keygen writes it (plugin and post-quantum identities "
                      "are not supported)");
    }
    index++;
  }
  return true;
}

}  // namespace strongroom

namespace strongroom {

bool AgeDecodeRecipient(const uint8_t* text, size_t length, uint8_t* out) {
  return Bech32Decode32(text, length, "age1", out);
}

size_t AgeArmoredSize(size_t binary_length) {
  const size_t lines = (binary_length + kArmorBytesPerLine - 1) / kArmorBytesPerLine;
  const size_t full = binary_length / kArmorBytesPerLine;
  const size_t rest = binary_length % kArmorBytesPerLine;
  return sizeof kArmorBegin + full * (kArmorColumns + 1) + (lines > full ? 4 * ((rest + 2) / 3) + 1 : 0) +
         sizeof kArmorEnd;
}

void AgeArmor(const uint8_t* binary, size_t length, uint8_t* out) {
  size_t at = 0;
  auto put = [&](const char* text, size_t n) {
    memcpy(out + at, text, n);
    at += n;
  };
  put(kArmorBegin, sizeof kArmorBegin - 1);
  put("\n", 1);
  for (size_t i = 0; i < length; i += kArmorBytesPerLine) {
    const size_t n = length - i < kArmorBytesPerLine ? length - i : kArmorBytesPerLine;
    char line[kArmorColumns + 1];
    sodium_bin2base64(line, sizeof line, binary + i, n, sodium_base64_VARIANT_ORIGINAL);
    put(line, strlen(line));
    put("\n", 1);
  }
  put(kArmorEnd, sizeof kArmorEnd - 1);
  put("\n", 1);
}

}  // namespace strongroom
