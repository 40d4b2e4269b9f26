// The text parts of age v1 (age.h): ASCII armor, the header, strict base64 and the bech32
// X25519 identity. No N-API and no cryptography in here; every failure is a Failure whose
// message never holds a byte of the input (the identity text is secret; the rest is not,
// but a message names positions, never content).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "guarded_memory.h"

namespace strongroom {

constexpr size_t kAgeBodyBytes = 32;  // the wrapped file key of an X25519 or scrypt stanza
constexpr size_t kAgeScryptSaltBytes = 16;
constexpr size_t kAgeMacBytes = 32;
constexpr size_t kAgeX25519Bytes = 32;

enum class AgeStanzaType { kOther, kX25519, kScrypt };

// One recipient stanza, validated for its type. Only the fields of its type are set.
struct AgeStanza {
  AgeStanzaType type = AgeStanzaType::kOther;
  uint8_t share[kAgeX25519Bytes] = {};        // X25519: the ephemeral share
  uint8_t salt[kAgeScryptSaltBytes] = {};     // scrypt
  unsigned log_n = 0;                         // scrypt: log2 of the work factor
  uint8_t body[kAgeBodyBytes] = {};           // X25519 and scrypt: the wrapped file key
};

struct AgeHeader {
  std::vector<AgeStanza> stanzas;  // the X25519 and scrypt stanzas, in order
  size_t stanza_count = 0;         // every stanza, of any type
  size_t mac_input_length = 0;  // the header up to and including "---"
  uint8_t mac[kAgeMacBytes] = {};
  size_t payload_offset = 0;    // the first byte after the MAC line
};

// Whether the file (after up to 1 KiB of leading whitespace) starts with the armor line
// -----BEGIN AGE ENCRYPTED FILE-----.
bool AgeIsArmored(const uint8_t* file, size_t length);

// De-armors in place (RFC 7468 strict, as age's armor reader: lines of 64 columns but the
// last, each strict padded base64, LF or CRLF, only whitespace (under 1 KiB) around the
// block). *binary_length gets the decoded length.
bool AgeDearmor(uint8_t* file, size_t length, size_t* binary_length, Failure* failure);

// Parses and validates the binary header (age v1's ABNF; canonical unpadded base64;
// X25519 and scrypt stanzas checked as the spec says; an scrypt stanza must be alone).
bool AgeParseHeader(const uint8_t* file, size_t length, AgeHeader* header, Failure* failure);

// The identity lines of an identity text: lines that are neither empty nor comments ('#').
// Returns their count (used to size the guarded region of the scalars).
size_t AgeCountIdentityLines(const uint8_t* text, size_t length);

// Decodes every identity line (bech32 "AGE-SECRET-KEY-1…", all upper or all lower case,
// checksum verified) into 32-byte scalars, written bit by bit straight into
// scalars[0..count * 32), which the caller keeps in guarded memory. `count` must be
// AgeCountIdentityLines(text, length). No decoded bit is kept anywhere else; the caller
// scrubs the stack afterwards.
bool AgeDecodeIdentities(const uint8_t* text, size_t length, uint8_t* scalars, size_t count, Failure* failure);

// An X25519 recipient "age1…" (public) into its 32 bytes; false when it is not one.
bool AgeDecodeRecipient(const uint8_t* text, size_t length, uint8_t* out);

// The armored size of binary_length bytes, and the armor itself (out holds exactly that).
size_t AgeArmoredSize(size_t binary_length);
void AgeArmor(const uint8_t* binary, size_t length, uint8_t* out);

}  // namespace strongroom
