// How a load's summary reads: JSON (--summary-json, the API) and the table people see.

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "tessera/common/text.h"
#include "tessera/ingest/loader.h"

namespace tessera::ingest {

std::string LoadSummary::ToJson() const {
  nlohmann::ordered_json j;
  j["mapping"] = mapping;
  j["mapping_detected"] = mapping_detected;
  j["files"] = files;
  j["rows_read"] = rows_read;
  j["rows_rejected"] = rows_rejected;
  j["rejected_by_reason"] = rejected_by_reason;
  j["rows_ignored"] = rows_ignored;
  j["rows_without_customer"] = rows_without_customer;
  j["duplicate_rows"] = duplicate_rows;
  j["conflicting_rows"] = conflicting_rows;
  j["orders_in_input"] = orders_in_input;
  j["orders_already_stored"] = orders_already_stored;
  j["orders_stored"] = orders_stored;
  if (orders_replaced > 0) j["orders_replaced"] = orders_replaced;
  j["purchases_stored"] = purchases_stored;
  j["credits_stored"] = credits_stored;
  j["voids_stored"] = voids_stored;
  j["anonymous_orders_stored"] = anonymous_orders_stored;
  j["negative_purchases_as_returns"] = negative_purchases_as_returns;
  j["customers_in_input"] = customers_in_input;
  j["customers_new"] = customers_new;
  j["match_tokens"] = match_tokens;
  j["match_identifiers_invalid"] = match_identifiers_invalid;
  j["batches"] = batches;
  j["spilled_bytes"] = spilled_bytes;
  j["load_id"] = load_id;
  j["seconds"] = seconds;
  j["seconds_by_phase"] = {{"store_state", seconds_store_state},
                           {"read", seconds_read},
                           {"encrypt", seconds_encrypt},
                           {"write", seconds_write},
                           {"match_tokens", seconds_match_tokens}};
  j["cpu_seconds_by_phase"] = {{"store_state", cpu_store_state},
                               {"read", cpu_read},
                               {"encrypt", cpu_encrypt},
                               {"write", cpu_write}};
  // Cores kept busy: CPU over wall seconds (0 for a phase too short to tell).
  auto cores = [](double cpu, double wall) {
    return wall >= 0.01 ? std::round(cpu / wall * 100) / 100 : 0.0;
  };
  j["cores_by_phase"] = {{"store_state", cores(cpu_store_state, seconds_store_state)},
                         {"read", cores(cpu_read, seconds_read)},
                         {"encrypt", cores(cpu_encrypt, seconds_encrypt)},
                         {"write", cores(cpu_write, seconds_write)}};
  return j.dump();
}

std::string LoadSummary::ToText() const {
  std::string out;
  auto line = [&](std::string_view label, uint64_t value, std::string_view note = "") {
    out += fmt::format("  {:<28}{:>14}{}{}\n", label, WithThousands(value),
                       note.empty() ? "" : "  ", note);
  };
  line("files", files);
  line("rows read", rows_read);
  line("rows rejected", rows_rejected);
  for (const auto& [reason, n] : rejected_by_reason) line(fmt::format("  {}", reason), n);
  if (rows_ignored > 0) line("rows ignored (status)", rows_ignored);
  line("rows without customer id", rows_without_customer,
       "(stored as anonymous orders, no profile)");
  line("duplicate rows skipped", duplicate_rows);
  if (conflicting_rows > 0)
    line("conflicting repeats skipped", conflicting_rows,
         "(same order id, other values; first kept)");
  line("orders in input", orders_in_input);
  line("orders already stored", orders_already_stored, "(skipped)");
  line("orders stored", orders_stored,
       fmt::format("({} purchases, {} cancellations/returns, {} voided)", purchases_stored,
                   credits_stored, voids_stored));
  if (orders_replaced > 0) {
    line("orders replaced", orders_replaced, "(newer versions of stored orders)");
  }
  if (negative_purchases_as_returns > 0) {
    line("negative totals as returns", negative_purchases_as_returns,
         "(no return status, a total below zero)");
  }
  line("customers in input", customers_in_input);
  line("new customers", customers_new);
  if (match_tokens > 0) line("match tokens", match_tokens, "(e-mails and phones, keyed)");
  if (match_identifiers_invalid > 0) {
    line("e-mails/phones left out", match_identifiers_invalid,
         "(do not normalize; not the customer's id; rows kept)");
  }
  if (spilled_bytes > 0) {
    out += fmt::format("  {:<28}{:>14}  (over the memory budget: sorted out on disk)\n",
                       "temporary space (MB)", WithThousands(spilled_bytes >> 20));
  }
  out += fmt::format("  {:<28}{:>14.1f}\n", "seconds", seconds);
  return out;
}

}  // namespace tessera::ingest
