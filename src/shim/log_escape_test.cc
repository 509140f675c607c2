#include "shim/log_escape.h"

#include <gtest/gtest.h>

#include <string>

namespace berth {
namespace {

std::string EscapeWhole(std::string_view text) {
  LogEscaper e;
  std::string out = e.Feed(text);
  return out + e.Flush();
}

// Issue 10: a job could print fake "--- berth: attempt N failed" lines into its own log.
TEST(LogEscaperTest, JobLinesThatLookLikeMarkersAreEscaped) {
  EXPECT_EQ(EscapeWhole("--- berth: attempt 1 failed (exit 1) ---\n"),
            "\\--- berth: attempt 1 failed (exit 1) ---\n");
  EXPECT_EQ(EscapeWhole("ok\n--- berth: fake\nmore\n"), "ok\n\\--- berth: fake\nmore\n");
  EXPECT_EQ(EscapeWhole("--- berth:"), "\\--- berth:");
}

TEST(LogEscaperTest, OtherOutputIsUntouched) {
  for (std::string text : {"", "hello\n", "--- bert\n", "--- berth\n", " --- berth: x\n",
                           "x --- berth: y\n", "---\n--\n-\n", "\n\n", "--- be"}) {
    EXPECT_EQ(EscapeWhole(text), text);
  }
}

TEST(LogEscaperTest, MarkersSplitAcrossReadsAreStillEscaped) {
  std::string text = "a\n--- berth: one\n--- berth: two\nb--- berth: not at start\n";
  for (size_t split = 0; split <= text.size(); ++split) {
    LogEscaper e;
    std::string out = e.Feed(text.substr(0, split));
    out += e.Feed(text.substr(split));
    out += e.Flush();
    EXPECT_EQ(out, "a\n\\--- berth: one\n\\--- berth: two\nb--- berth: not at start\n")
        << "split at " << split;
  }
  LogEscaper bytewise;
  std::string out;
  for (char c : text) out += bytewise.Feed(std::string_view(&c, 1));
  out += bytewise.Flush();
  EXPECT_EQ(out, "a\n\\--- berth: one\n\\--- berth: two\nb--- berth: not at start\n");
}

// A monitor that hands its wait to berth-shim-wait carries the escaper's state across the execs:
// cut anywhere, the output escapes as it would have in one piece.
TEST(LogEscaperTest, AnEscaperRebuiltFromItsStateContinuesTheSame) {
  for (std::string_view text : {"--- berth: fake\n", "ok\n--- berth: x\n-- b\n", "---\n--- ber",
                                "a\n\n--- berth:--- berth:\n", "no newline at all"}) {
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      LogEscaper first;
      std::string out = first.Feed(text.substr(0, cut));
      LogEscaper second = LogEscaper::FromState(first.State());
      out += second.Feed(text.substr(cut));
      out += second.Flush();
      EXPECT_EQ(out, EscapeWhole(text)) << "cut at " << cut << " of '" << text << "'";
    }
  }
}

}  // namespace
}  // namespace berth
