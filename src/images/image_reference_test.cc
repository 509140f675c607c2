#include "images/image_reference.h"

#include <gtest/gtest.h>

#include <string>

namespace berth {
namespace {

const std::string kHex(64, 'a');

struct GoodCase {
  std::string input;
  std::string normalized;
};

class GoodReferenceTest : public ::testing::TestWithParam<GoodCase> {};

TEST_P(GoodReferenceTest, Normalizes) {
  Result<ImageReference> ref = ParseImageReference(GetParam().input);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  EXPECT_EQ(ref->ToString(), GetParam().normalized);
  // The normalized form is a fixed point.
  Result<ImageReference> again = ParseImageReference(ref->ToString());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->ToString(), GetParam().normalized);
}

INSTANTIATE_TEST_SUITE_P(
    References, GoodReferenceTest,
    ::testing::Values(
        GoodCase{"busybox", "docker.io/library/busybox:latest"},
        GoodCase{"busybox:latest", "docker.io/library/busybox:latest"},
        GoodCase{"busybox:1.36", "docker.io/library/busybox:1.36"},
        GoodCase{"library/busybox", "docker.io/library/busybox:latest"},
        GoodCase{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest"},
        GoodCase{"docker.io/busybox", "docker.io/library/busybox:latest"},
        GoodCase{"index.docker.io/library/busybox", "docker.io/library/busybox:latest"},
        GoodCase{"myorg/app", "docker.io/myorg/app:latest"},
        GoodCase{"ghcr.io/org/sub/app:v1.2.3-rc_1", "ghcr.io/org/sub/app:v1.2.3-rc_1"},
        GoodCase{"localhost/app", "localhost/app:latest"},
        GoodCase{"localhost:5000/app", "localhost:5000/app:latest"},
        GoodCase{"localhost:5000", "docker.io/library/localhost:5000"},
        GoodCase{"Registry.Example.com:443/a.b/c__d/e---f/g_h:TAG_1",
                 "Registry.Example.com:443/a.b/c__d/e---f/g_h:TAG_1"},
        GoodCase{"[::1]:5000/app:tag", "[::1]:5000/app:tag"},
        GoodCase{"busybox@sha256:" + kHex, "docker.io/library/busybox@sha256:" + kHex},
        GoodCase{"busybox:1@sha256:" + kHex, "docker.io/library/busybox:1@sha256:" + kHex},
        GoodCase{"a:" + std::string(128, 'x'), "docker.io/library/a:" + std::string(128, 'x')}));

TEST(ImageReferenceTest, SplitsIntoParts) {
  Result<ImageReference> ref =
      ParseImageReference("registry.local:5000/team/tool:v2@sha256:" + kHex);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  EXPECT_EQ(ref->registry, "registry.local:5000");
  EXPECT_EQ(ref->repository, "team/tool");
  EXPECT_EQ(ref->tag, "v2");
  EXPECT_EQ(ref->digest, "sha256:" + kHex);
  EXPECT_EQ(ref->Name(), "registry.local:5000/team/tool");

  Result<ImageReference> hub = ParseImageReference("busybox");
  ASSERT_TRUE(hub.ok());
  EXPECT_EQ(hub->registry, "docker.io");
  EXPECT_EQ(hub->repository, "library/busybox");
  EXPECT_EQ(hub->tag, "latest");
  EXPECT_EQ(hub->digest, "");
}

TEST(ImageReferenceTest, PinnedReferenceHasNoDefaultTag) {
  Result<ImageReference> ref = ParseImageReference("busybox@sha256:" + kHex);
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->tag, "");
}

struct BadCase {
  std::string input;
  std::string message_part;
};

class BadReferenceTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadReferenceTest, IsRejectedWithReason) {
  Result<ImageReference> ref = ParseImageReference(GetParam().input);
  ASSERT_FALSE(ref.ok()) << GetParam().input << " parsed as " << ref->ToString();
  EXPECT_TRUE(ref.status().IsInvalidArgument());
  EXPECT_NE(ref.status().message().find(GetParam().message_part), std::string::npos)
      << ref.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    References, BadReferenceTest,
    ::testing::Values(
        BadCase{"", "empty reference"}, BadCase{"Busybox", "lowercase"},
        BadCase{"myorg/BusyBox", "lowercase"}, BadCase{"../etc/passwd", "\"..\" is not allowed"},
        BadCase{"library/../busybox", "\"..\" is not allowed"},
        BadCase{"ghcr.io/./app", "\".\" is not allowed"}, BadCase{"a//b", "empty path component"},
        BadCase{"busybox/", "empty path component"}, BadCase{"docker.io/", "empty repository"},
        BadCase{"busybox:", "empty tag"}, BadCase{"busybox:-x", "tag"},
        BadCase{"busybox:a/b", "is not host[:port]"},
        BadCase{"busybox:" + std::string(129, 'x'), "tag"}, BadCase{"busybox@sha256:abc", "64 hex"},
        BadCase{"busybox@md5:" + std::string(32, 'a'), "unsupported digest algorithm"},
        BadCase{"busybox@sha256:" + std::string(64, 'A'), "lowercase hex"},
        BadCase{"busybox@", "digest"}, BadCase{std::string(256, 'a'), "longer than 255"},
        BadCase{"example.com/" + std::string(250, 'a'), "longer than 255"},
        BadCase{"example.com:port/app", "is not host[:port]"},
        BadCase{"-bad.com/app", "is not host[:port]"}, BadCase{"busy box", "repository component"},
        BadCase{"a_-b", "repository component"}, BadCase{"a..b", "repository component"},
        BadCase{"app.", "repository component"}, BadCase{"_app", "repository component"}));

}  // namespace
}  // namespace berth
