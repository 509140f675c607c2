// CronExpression: when a schedule fires. Two grammars, told apart by the number of fields:
//   6 fields, NCRONTAB with seconds as in the Functions timer trigger: sec min hour dom mon dow
//   5 fields, standard cron:                                               min hour dom mon dow
// Each field is a comma list of `*`, `?` (day fields), N, N-M, */S, N/S, N-M/S; months take
// JAN..DEC, weekdays SUN..SAT (0-7, 0 and 7 are Sunday). As in Vixie cron, when both day fields
// are restricted a day matches either; when one is `*` (or `?`) only the other counts.
//
// Times are matched in the expression's IANA time zone (Howard Hinnant's date/tz over the
// system's /usr/share/zoneinfo). Across daylight-saving changes: a local time that does not
// exist (spring forward) is skipped; a local time that occurs twice (fall back) fires once, at
// its first occurrence. Immutable after Parse; thread-safe.
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace date {
class time_zone;
}

namespace berth {

class CronExpression {
 public:
  // Parses `expr` in `time_zone`. InvalidArgument naming the bad field or zone.
  static Result<CronExpression> Parse(std::string_view expr, std::string_view time_zone = "UTC");

  // The first firing time strictly after `after`; nullopt when there is none within 5 years
  // ("0 0 0 30 2 *" never fires).
  std::optional<TimePoint> Next(TimePoint after) const;

 private:
  CronExpression() = default;
  bool DayMatches(int dom, int month, int weekday) const;

  std::bitset<60> seconds_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool days_restricted_ = false;
  bool weekdays_restricted_ = false;
  const date::time_zone* zone_ = nullptr;  // owned by the tz database (lives forever)
};

}  // namespace berth
