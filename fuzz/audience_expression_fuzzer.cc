// Audience expressions are user input (CLI, API): any bytes parse into an expression
// that evaluates to a subset of the customers, or give an error that names a column; never a
// crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tessera/audience/expression.h"

namespace {

const tessera::audience::AudienceIndex& Index() {
  static const tessera::audience::AudienceIndex* index = [] {
    using namespace tessera::audience;
    IndexInfo info;
    info.as_of_day = 20000;
    info.start_day = 20000 - 364;
    info.window = "12m";
    info.currency = "EUR";
    info.customers = 64;
    IndexBuilder b(info, {{"champions", "Champions", "VIPs"}, {"lost", "Lost", "Verlorene"}});
    for (uint32_t c = 0; c < 48; ++c) {
      tessera::analytics::Profile p;
      p.customer = c;
      p.segment = c % 2;
      p.r_score = p.f_score = p.m_score = static_cast<uint8_t>(1 + c % 5);
      p.order_count = 1 + c % 7;
      p.revenue_minor = static_cast<int64_t>(c) * 1234 - 5000;
      p.recency_days = static_cast<int32_t>(c * 7);
      b.AddProfile(p);
    }
    b.AddCategory(1, "Food > Dairy > Cheese");
    b.AddCategory(2, "Food > Dairy > Milk");
    b.AddCategory(3, "Deli > Cheese");
    for (uint32_t c = 0; c < 40; ++c) b.AddPurchase(c, 20000 - c * 9, 1 + c % 3, 100 * c);
    b.AddAttribute("region", "north", 1);
    b.AddAttribute("region", "Süd", 2);
    b.AddAttribute("channel", "online", 3);
    return new AudienceIndex(b.Finish());
  }();
  return *index;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto& index = Index();
  auto e = tessera::audience::Expression::Parse(text, index);
  if (e.ok()) {
    const auto members = e->Evaluate();
    if (members.Cardinality() > index.info().customers) std::abort();
  } else if (!e.status().message().starts_with("column ")) {
    std::abort();
  } else {
    // The API's error fields come from the error's details: its column is always there, in
    // range.
    const auto d = tessera::audience::DescribeExpressionError(e.status());
    if (d.column < 1 || static_cast<size_t>(d.column) > size + 1) std::abort();
  }
  return 0;
}
