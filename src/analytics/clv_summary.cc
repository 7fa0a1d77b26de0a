#include <algorithm>
#include <cmath>
#include <vector>

#include "tessera/analytics/clv.h"

namespace tessera::analytics::clv {

std::vector<CustomerSummary> Summarize(std::span<const Purchase> purchases,
                                       int32_t calibration_end_day,
                                       std::optional<int32_t> holdout_end_day, TimeUnit unit,
                                       int currency_exponent) {
  std::vector<Purchase> sorted(purchases.begin(), purchases.end());
  std::sort(sorted.begin(), sorted.end(), [](const Purchase& a, const Purchase& b) {
    return a.customer != b.customer ? a.customer < b.customer : a.day < b.day;
  });
  const double per_unit = DaysPerUnit(unit);
  const double minor_per_major = std::pow(10.0, currency_exponent);
  std::vector<CustomerSummary> out;
  for (size_t i = 0; i < sorted.size();) {
    const uint32_t customer = sorted[i].customer;
    const int32_t first_day = sorted[i].day;
    size_t end = i;
    while (end < sorted.size() && sorted[end].customer == customer) ++end;
    if (first_day > calibration_end_day) {
      i = end;
      continue;
    }
    CustomerSummary s;
    s.customer = customer;
    int64_t repeat_minor = 0, holdout_minor = 0;
    int32_t last_repeat_day = first_day;
    // Purchases on one day are one transaction: the models count days with a purchase.
    for (size_t j = i; j < end;) {
      const int32_t day = sorted[j].day;
      int64_t amount = 0;
      while (j < end && sorted[j].day == day) amount += sorted[j++].amount_minor;
      if (day <= calibration_end_day) {
        if (day != first_day) {
          s.frequency += 1;
          repeat_minor += amount;
          last_repeat_day = day;
        }
      } else if (holdout_end_day && day <= *holdout_end_day) {
        s.holdout_purchases += 1;
        holdout_minor += amount;
      }
    }
    s.recency = (last_repeat_day - first_day) / per_unit;
    s.age = (calibration_end_day - first_day) / per_unit;
    if (s.frequency > 0) {
      s.monetary = static_cast<double>(repeat_minor) / minor_per_major / s.frequency;
    }
    s.holdout_value = static_cast<double>(holdout_minor) / minor_per_major;
    out.push_back(s);
    i = end;
  }
  return out;
}

}  // namespace tessera::analytics::clv
