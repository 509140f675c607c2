// The version of this build and the git commit it was built from (baked in by the build).
#pragma once

#include <string>

namespace berth {

// "0.1.0".
std::string BerthVersion();
// The short commit hash, with "-dirty" when the tree had changes; "unknown" outside git.
std::string BerthCommit();

}  // namespace berth
