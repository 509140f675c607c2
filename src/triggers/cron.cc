#include "triggers/cron.h"

#include <date/date.h>
#include <date/tz.h>

#include <array>
#include <cctype>
#include <exception>
#include <vector>

namespace berth {
namespace {

constexpr std::array<const char*, 12> kMonths = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                 "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<const char*, 7> kWeekdays = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct FieldRange {
  const char* name;
  int min;
  int max;
  bool months = false;
  bool weekdays = false;
};

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == s.npos ? s.npos : pos - start));
    if (pos == s.npos) return out;
    start = pos + 1;
  }
}

// A number or (for months and weekdays) a three-letter name.
std::optional<int> Value(std::string_view v, const FieldRange& f) {
  if (v.empty() || v.size() > 4) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(v[0]))) {
    int n = 0;
    for (char c : v) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
      n = n * 10 + (c - '0');
    }
    return n;
  }
  std::string upper;
  for (char c : v) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (f.months) {
    for (size_t i = 0; i < kMonths.size(); ++i) {
      if (upper == kMonths[i]) return static_cast<int>(i) + 1;
    }
  }
  if (f.weekdays) {
    for (size_t i = 0; i < kWeekdays.size(); ++i) {
      if (upper == kWeekdays[i]) return static_cast<int>(i);
    }
  }
  return std::nullopt;
}

// Sets the bits of one field; `restricted` is false for `*` and `?`.
template <size_t N>
Status ParseField(std::string_view text, const FieldRange& f, std::bitset<N>& bits,
                  bool* restricted) {
  auto bad = [&](std::string_view what) {
    return Status::InvalidArgument("field 'schedule': " + std::string(f.name) + " field '" +
                                   std::string(text) + "': " + std::string(what));
  };
  int max = f.weekdays ? 7 : f.max;  // 7 is Sunday too
  *restricted = !(text == "*" || text == "?");
  if (text == "?" && std::string_view(f.name) != "day-of-month" &&
      std::string_view(f.name) != "day-of-week") {
    return bad("'?' is only for the day fields");
  }
  for (std::string_view item : Split(text, ',')) {
    if (item.empty()) return bad("empty list item");
    int step = 1;
    size_t slash = item.find('/');
    if (slash != item.npos) {
      std::optional<int> s = Value(item.substr(slash + 1), FieldRange{f.name, 0, 0});
      if (!s || *s < 1 || *s > max) return bad("step must be 1 to " + std::to_string(max));
      step = *s;
      item = item.substr(0, slash);
    }
    int lo = f.min, hi = max;
    if (item == "*" || item == "?") {
      if (f.weekdays) hi = 6;
    } else {
      size_t dash = item.find('-');
      std::optional<int> a = Value(item.substr(0, dash), f);
      if (!a) return bad("'" + std::string(item) + "' is not a value");
      lo = hi = *a;
      if (dash != item.npos) {
        std::optional<int> b = Value(item.substr(dash + 1), f);
        if (!b) return bad("'" + std::string(item) + "' is not a range");
        hi = *b;
      } else if (slash != std::string_view::npos) {
        hi = f.weekdays ? 6 : f.max;  // N/S: from N to the end
      }
      if (lo < f.min || hi > max || lo > hi) {
        return bad("values must be " + std::to_string(f.min) + " to " + std::to_string(max) +
                   ", low before high");
      }
    }
    for (int v = lo; v <= hi; v += step) bits.set(static_cast<size_t>(f.weekdays ? v % 7 : v));
  }
  return Status::Ok();
}

}  // namespace

Result<CronExpression> CronExpression::Parse(std::string_view expr, std::string_view time_zone) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < expr.size()) {
    while (i < expr.size() && (expr[i] == ' ' || expr[i] == '\t')) ++i;
    size_t start = i;
    while (i < expr.size() && expr[i] != ' ' && expr[i] != '\t') ++i;
    if (i > start) fields.push_back(expr.substr(start, i - start));
  }
  if (fields.size() != 5 && fields.size() != 6) {
    return Status::InvalidArgument(
        "field 'schedule': want 6 fields (sec min hour day month weekday, NCRONTAB) or 5 "
        "(min hour day month weekday), got " +
        std::to_string(fields.size()));
  }
  CronExpression c;
  bool restricted = false;
  size_t k = 0;
  if (fields.size() == 6) {
    RETURN_IF_ERROR(ParseField(fields[k++], {"second", 0, 59}, c.seconds_, &restricted));
  } else {
    c.seconds_.set(0);
  }
  RETURN_IF_ERROR(ParseField(fields[k++], {"minute", 0, 59}, c.minutes_, &restricted));
  RETURN_IF_ERROR(ParseField(fields[k++], {"hour", 0, 23}, c.hours_, &restricted));
  RETURN_IF_ERROR(ParseField(fields[k++], {"day-of-month", 1, 31}, c.days_, &c.days_restricted_));
  RETURN_IF_ERROR(ParseField(fields[k++], {"month", 1, 12, true}, c.months_, &restricted));
  RETURN_IF_ERROR(ParseField(fields[k++], {"day-of-week", 0, 6, false, true}, c.weekdays_,
                             &c.weekdays_restricted_));
  try {
    c.zone_ = date::locate_zone(std::string(time_zone));
  } catch (const std::exception&) {
    return Status::InvalidArgument("field 'timeZone': unknown time zone '" +
                                   std::string(time_zone) + "' (want an IANA name)");
  }
  return c;
}

bool CronExpression::DayMatches(int dom, int month, int weekday) const {
  if (!months_.test(static_cast<size_t>(month))) return false;
  bool d = days_.test(static_cast<size_t>(dom));
  bool w = weekdays_.test(static_cast<size_t>(weekday));
  if (days_restricted_ && weekdays_restricted_) return d || w;
  return d && w;
}

std::optional<TimePoint> CronExpression::Next(TimePoint after) const {
  using namespace std::chrono;
  auto after_s = std::chrono::floor<seconds>(after);
  date::local_seconds local = zone_->to_local(after_s) + seconds(1);
  const date::local_seconds limit = local + date::days(5 * 366);
  while (local < limit) {
    date::local_days day = date::floor<date::days>(local);
    date::year_month_day ymd(day);
    int month = static_cast<int>(static_cast<unsigned>(ymd.month()));
    int dom = static_cast<int>(static_cast<unsigned>(ymd.day()));
    int weekday = static_cast<int>(date::weekday(day).c_encoding());
    if (!DayMatches(dom, month, weekday)) {
      local = day + date::days(1);
      continue;
    }
    auto tod = local - day;
    int h = static_cast<int>(std::chrono::duration_cast<hours>(tod).count());
    int m = static_cast<int>(std::chrono::duration_cast<minutes>(tod).count() % 60);
    int s = static_cast<int>(tod.count() % 60);
    if (!hours_.test(static_cast<size_t>(h))) {
      local = day + hours(h + 1);
      continue;
    }
    if (!minutes_.test(static_cast<size_t>(m))) {
      local = day + hours(h) + minutes(m + 1);
      continue;
    }
    if (!seconds_.test(static_cast<size_t>(s))) {
      local += seconds(1);
      continue;
    }
    date::local_info info = zone_->get_info(local);
    if (info.result == date::local_info::nonexistent) {  // in a spring-forward gap: skipped
      local += seconds(1);
      continue;
    }
    auto sys = local - info.first.offset;  // unique, or the first of an ambiguous pair
    TimePoint t = std::chrono::time_point_cast<system_clock::duration>(
        system_clock::time_point(sys.time_since_epoch()));
    if (t > after) return t;
    local += seconds(1);
  }
  return std::nullopt;
}

}  // namespace berth
