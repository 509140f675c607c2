#include "shim/create_failure.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

TEST(CreateFailureTest, ConfigAndImageRefusalsArePermanent) {
  // crun and runc's words for a command that is not in the image, a rootfs the user namespace
  // may not reach, and a bad mount.
  EXPECT_FALSE(CreateFailureIsTransient(
      "executable file `/no/such/program` not found in $PATH: No such file or directory"));
  EXPECT_FALSE(CreateFailureIsTransient(
      "runc create failed: unable to start container process: error during container init: "
      "error preparing rootfs: permission denied"));
  EXPECT_FALSE(CreateFailureIsTransient("mount `/proc` to `proc`: Invalid argument"));
}

TEST(CreateFailureTest, ShortagesAndTimeoutsAreTransient) {
  EXPECT_TRUE(CreateFailureIsTransient("clone: Resource temporarily unavailable"));
  EXPECT_TRUE(CreateFailureIsTransient("mmap: Cannot allocate memory"));
  EXPECT_TRUE(CreateFailureIsTransient("write cgroup: No space left on device"));
  EXPECT_TRUE(CreateFailureIsTransient("open: Too many open files"));
  EXPECT_TRUE(CreateFailureIsTransient("rmdir cgroup: Device or resource busy"));
  EXPECT_TRUE(CreateFailureIsTransient("waiting for the container timed out"));
  EXPECT_TRUE(CreateFailureIsTransient("no message from the runtime"));
}

}  // namespace
}  // namespace berth
