#include "runtime/image_user.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

namespace berth {
namespace {

class ImageUserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-user-XXXXXX";
    root_ = mkdtemp(tmpl);
    for (const char* l : {"base", "top"}) std::filesystem::create_directories(root_ / l / "etc");
    std::ofstream(root_ / "base" / "etc" / "passwd") << "root:x:0:0::/root:/bin/sh\n"
                                                        "app:x:1000:1000::/home/app:/bin/sh\n";
    std::ofstream(root_ / "base" / "etc" / "group") << "root:x:0:\nstaff:x:50:\n";
    // The top layer replaces /etc/passwd: its entries win.
    std::ofstream(root_ / "top" / "etc" / "passwd") << "root:x:0:0::/root:/bin/sh\n"
                                                       "svc:x:2001:2002::/srv:/bin/false\n";
    layers_ = {root_ / "base", root_ / "top"};
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::filesystem::path root_;
  std::vector<std::filesystem::path> layers_;
};

TEST_F(ImageUserTest, NamesResolveThroughTheTopmostPasswdAndGroup) {
  EXPECT_EQ(*ResolveImageUser("svc", layers_), "2001:2002");
  EXPECT_EQ(*ResolveImageUser("svc:staff", layers_), "2001:50");
  EXPECT_EQ(*ResolveImageUser("7:staff", layers_), "7:50");
  EXPECT_EQ(*ResolveImageUser("1000:1000", layers_), "1000:1000");
  EXPECT_EQ(*ResolveImageUser("", layers_), "");
}

TEST_F(ImageUserTest, UnknownNamesRefuseToRunRatherThanRunAsRoot) {
  auto app = ResolveImageUser("app", layers_);  // only in the lower, replaced, passwd
  EXPECT_EQ(app.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ResolveImageUser("svc:nogroup", layers_).status().code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace berth
