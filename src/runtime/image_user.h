// Resolves an image's `User` ("name", "name:group", "uid:gid", ...) to numeric ids through the
// image's own /etc/passwd and /etc/group (read from its unpacked layers, top layer first), as
// Docker does. The OCI config needs numbers.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"

namespace berth {

// "uid:gid" for `user`; `user` itself when it is already numeric or empty. FailedPrecondition
// when a name is not in the image (the job cannot run as intended, so it must not run as root).
Result<std::string> ResolveImageUser(const std::string& user,
                                     const std::vector<std::filesystem::path>& layers_bottom_first);

}  // namespace berth
