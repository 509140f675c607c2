// libFuzzer target: ParseJobSpec on arbitrary bytes. Never crashes, throws or leaks; a spec it
// accepts survives JobSpecToJson and a second parse unchanged. Built with -DBERTH_FUZZ=ON (see
// scripts/run-fuzzers.sh).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "job/job_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = berth::ParseJobSpec(text);
  if (!spec.ok()) {
    if (spec.status().message().empty()) __builtin_trap();  // errors must say what is wrong
    return 0;
  }
  if (spec->image.empty()) __builtin_trap();
  std::string json = berth::JobSpecToJson(*spec, /*include_secrets=*/true);
  auto again = berth::ParseJobSpec(json);
  if (!again.ok()) {
    fprintf(stderr, "re-parse failed: %s\n%s\n", again.status().ToString().c_str(), json.c_str());
    __builtin_trap();
  }
  if (berth::JobSpecToJson(*again, true) != json) {
    fprintf(stderr, "round trip changed the spec:\n%s\n", json.c_str());
    __builtin_trap();
  }
  return 0;
}
