#include "common/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace berth {
namespace {

void FillRandom(unsigned char* buf, size_t n) {
  // RAND_bytes only fails when the CSPRNG cannot be seeded: no safe way to go on.
  if (RAND_bytes(buf, static_cast<int>(n)) != 1) std::abort();
}

// Small draws (identifiers) are served from a block of RAND_bytes per thread: a call per
// identifier cost more than the rest of making it (the generator's per-call work; its fork check,
// a getpid system call). A forked child drops the block its thread inherited, so that it never
// hands out its parent's next identifiers.
struct RandomBlock {
  unsigned char bytes[512];
  size_t used = sizeof bytes;
};

thread_local RandomBlock block;

void DropBlockInChild() { block.used = sizeof block.bytes; }

void FillRandomSmall(unsigned char* buf, size_t n) {
  static const int registered = pthread_atfork(nullptr, nullptr, &DropBlockInChild);
  if (registered != 0) std::abort();  // ENOMEM at the first call: no safe way to go on
  if (sizeof block.bytes - block.used < n) {
    FillRandom(block.bytes, sizeof block.bytes);
    block.used = 0;
  }
  std::memcpy(buf, block.bytes + block.used, n);
  std::memset(block.bytes + block.used, 0, n);  // a secret is not left behind once handed out
  block.used += n;
}

}  // namespace

std::string NewUuidV4() {
  unsigned char b[16];
  FillRandomSmall(b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0xf]);
  }
  return out;
}

bool IsCanonicalUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

std::string RandomUrlSafeToken(size_t n) {
  std::string raw(n, '\0');
  FillRandom(reinterpret_cast<unsigned char*>(raw.data()), n);
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char ha[SHA256_DIGEST_LENGTH];
  unsigned char hb[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), ha);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), hb);
  return CRYPTO_memcmp(ha, hb, sizeof ha) == 0;
}

}  // namespace berth
