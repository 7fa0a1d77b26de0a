#include "tessera/io/order_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "tessera/common/money.h"
#include "tessera/common/text.h"

namespace tessera::io {
namespace {

constexpr size_t Idx(Field f) { return static_cast<size_t>(f); }

// A 64-bit hash of the fields, eight bytes at a time (the field lengths are mixed in, so
// "a","bc" and "ab","c" differ): enough to spot byte-identical rows of one order. The field at
// `skip` (-1: none) is left out.
uint64_t HashFields(const std::vector<std::string_view>& fields, int skip) {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  auto mix = [&h](uint64_t w) {
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  };
  for (size_t k = 0; k < fields.size(); ++k) {
    if (static_cast<int>(k) == skip) continue;
    const std::string_view f = fields[k];
    mix(f.size());
    size_t i = 0;
    for (; i + 8 <= f.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, f.data() + i, 8);
      mix(w);
    }
    if (i < f.size()) {
      uint64_t w = 0;
      std::memcpy(&w, f.data() + i, f.size() - i);
      mix(w);
    }
  }
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

OrderReader::OrderReader(std::string path, const Mapping& mapping,
                         std::unique_ptr<RowSource> source, ResolvedMapping resolved,
                         TimestampParser timestamps)
    : path_(std::move(path)),
      mapping_(mapping),
      source_(std::move(source)),
      resolved_(std::move(resolved)),
      timestamps_(std::move(timestamps)) {
  // Rows are matched in lower case; ParseMapping lowers these, a Mapping built in code may not.
  for (auto* list :
       {&mapping_.void_statuses, &mapping_.credit_statuses, &mapping_.ignore_statuses}) {
    for (auto& s : *list) s = AsciiLower(s);
  }
  for (char c : mapping_.currency) {
    currency_upper_.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  }
}

StatusOr<std::unique_ptr<OrderReader>> OrderReader::Open(const std::string& path,
                                                         const Mapping& mapping) {
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<RowSource> source,
                           RowSource::Open(path, mapping.source));
  auto mapped = ResolveMapping(mapping, source->columns(), source->delimiter());
  if (!mapped.ok()) return mapped.status().WithContext(path == "-" ? "stdin" : path);
  ResolvedMapping resolved = std::move(*mapped);
  TESSERA_RETURN_IF_ERROR(source->Select(resolved.selected).WithContext(path));
  TESSERA_ASSIGN_OR_RETURN(TimestampParser ts,
                           TimestampParser::Create(mapping.timestamp_format, mapping.timezone));
  std::string currency;
  for (char c : mapping.currency)
    currency.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  if (!currency.empty() && !IsCurrencyCode(currency)) {
    return InvalidArgumentError("mapping '{}': currency must be an ISO 4217 code like EUR",
                                mapping.name);
  }
  return std::unique_ptr<OrderReader>(
      new OrderReader(path, mapping, std::move(source), std::move(resolved), std::move(ts)));
}

std::string_view OrderReader::FieldValue(const Row& row, Field f) const {
  const int i = resolved_.index[Idx(f)];
  return i < 0 ? std::string_view() : TrimWhitespace(row.fields[static_cast<size_t>(i)]);
}

Reject OrderReader::MakeReject(uint64_t line, Field f, std::string reason_code,
                               std::string reason) const {
  Reject r;
  r.file = path_;
  r.line = line;
  const int i = resolved_.index[Idx(f)];
  if (i >= 0) {
    r.column = source_->ColumnPosition(static_cast<size_t>(i));
    r.column_name = resolved_.selected[static_cast<size_t>(i)];
  }
  r.reason_code = std::move(reason_code);
  r.reason = std::move(reason);
  return r;
}

OrderReader::Result OrderReader::Next(OrderLine* out, Reject* reject) {
  RowError error;
  bool ok = true;
  if (!source_->Next(&row_, &error, &ok)) return Result::kEnd;
  if (!ok) {
    *reject = RejectOfRowError(path_, error);
    return error.code == kReadError ? Result::kReadError : Result::kReject;
  }
  const uint64_t line = row_.line;
  OrderLine& o = *out;
  o = OrderLine();
  o.line = line;

  // Status first: ignored rows are skipped before anything else is checked.
  o.kind = OrderKind::kPurchase;
  if (std::string_view status = FieldValue(row_, Field::kStatus); !status.empty()) {
    // Exports repeat a handful of status values: classify each distinct one once.
    if (status != last_status_) {
      const std::string s = AsciiLower(status);
      last_status_.assign(status);
      last_status_class_ = Contains(mapping_.ignore_statuses, s)   ? kStatusIgnore
                           : Contains(mapping_.credit_statuses, s) ? kStatusCredit
                           : Contains(mapping_.void_statuses, s)   ? kStatusVoid
                                                                   : kStatusPurchase;
    }
    if (last_status_class_ == kStatusIgnore) return Result::kSkip;
    if (last_status_class_ == kStatusVoid) o.kind = OrderKind::kVoid;
    if (last_status_class_ == kStatusCredit) o.kind = OrderKind::kCredit;
  }

  o.order_id = FieldValue(row_, Field::kOrderId);
  if (has_order_id() && o.order_id.empty()) {
    *reject = MakeReject(line, Field::kOrderId, "missing_order_id", "order id is empty");
    return Result::kReject;
  }
  if (o.order_id.size() > 255) {
    *reject =
        MakeReject(line, Field::kOrderId, "bad_order_id", "order id is longer than 255 bytes");
    return Result::kReject;
  }
  if (!mapping_.cancel_prefix.empty() && o.order_id.starts_with(mapping_.cancel_prefix)) {
    o.kind = OrderKind::kCredit;
  }
  o.customer_id = FieldValue(row_, Field::kCustomerId);
  o.email = FieldValue(row_, Field::kEmail);
  o.phone = FieldValue(row_, Field::kPhone);

  auto ts = timestamps_.Parse(FieldValue(row_, Field::kOrderedAt));
  if (!ts.ok()) {
    *reject = MakeReject(line, Field::kOrderedAt, "bad_timestamp", ts.status().message());
    return Result::kReject;
  }
  o.ordered_at = *ts;

  const DecimalMark mark = resolved_.decimal_mark;
  o.quantity_milli = 1000;
  if (std::string_view q = FieldValue(row_, Field::kQuantity); !q.empty()) {
    auto qty = ParseDecimal(q, mark, 3);
    if (!qty.ok()) {
      *reject =
          MakeReject(line, Field::kQuantity, "bad_number", "quantity: " + qty.status().message());
      return Result::kReject;
    }
    o.quantity_milli = *qty;
  }
  std::string_view amount = FieldValue(row_, Field::kAmount);
  if (!amount.empty()) {
    auto a = ParseDecimal(amount, mark, 6);
    if (!a.ok()) {
      *reject = MakeReject(line, Field::kAmount, "bad_number", "amount: " + a.status().message());
      return Result::kReject;
    }
    o.amount_micro = *a;
  } else if (std::string_view price = FieldValue(row_, Field::kUnitPrice); !price.empty()) {
    auto p = ParseDecimal(price, mark, 6);
    if (!p.ok()) {
      *reject =
          MakeReject(line, Field::kUnitPrice, "bad_number", "unit price: " + p.status().message());
      return Result::kReject;
    }
    const __int128 total = static_cast<__int128>(*p) * o.quantity_milli;
    __int128 micro = total / 1000;
    const __int128 rem = total % 1000;
    if (rem >= 500) ++micro;
    if (rem <= -500) --micro;
    if (micro > INT64_MAX / 4 || micro < -(INT64_MAX / 4)) {
      *reject = MakeReject(line, Field::kUnitPrice, "bad_number",
                           "quantity x unit price is out of range");
      return Result::kReject;
    }
    o.amount_micro = static_cast<int64_t>(micro);
  } else {
    const Field f = resolved_.index[Idx(Field::kAmount)] >= 0 ? Field::kAmount : Field::kUnitPrice;
    *reject = MakeReject(line, f, "missing_amount", "amount is empty");
    return Result::kReject;
  }

  o.currency = FieldValue(row_, Field::kCurrency);
  if (std::any_of(o.currency.begin(), o.currency.end(),
                  [](char c) { return c >= 'a' && c <= 'z'; })) {
    currency_buffer_.assign(o.currency);
    for (char& c : currency_buffer_) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    o.currency = currency_buffer_;
  }
  if (o.currency.empty()) {
    o.currency = currency_upper_;
    if (o.currency.empty()) {
      *reject = MakeReject(line, Field::kCurrency, "missing_currency",
                           "no currency: map a currency column or set [values].currency");
      return Result::kReject;
    }
  }
  if (!IsCurrencyCode(o.currency)) {
    *reject = MakeReject(line, Field::kCurrency, "bad_currency",
                         "currency must be a three-letter ISO 4217 code like EUR");
    return Result::kReject;
  }

  o.category = FieldValue(row_, Field::kCategory);
  o.sku = FieldValue(row_, Field::kSku);
  o.store = FieldValue(row_, Field::kStore);
  o.region = FieldValue(row_, Field::kRegion);
  o.channel = FieldValue(row_, Field::kChannel);
  const std::pair<Field, std::string_view> attributes[] = {{Field::kCategory, o.category},
                                                           {Field::kSku, o.sku},
                                                           {Field::kStore, o.store},
                                                           {Field::kRegion, o.region},
                                                           {Field::kChannel, o.channel}};
  for (const auto& [field, v] : attributes) {
    if (v.size() > 1024) {
      *reject = MakeReject(line, field, "bad_attribute",
                           fmt::format("{} is longer than 1024 bytes", FieldName(field)));
      return Result::kReject;
    }
  }
  // Without the phone: the orders of a file without order ids are named by this hash, and a
  // file loaded before phones were read (its phone column unmapped) must name them as then.
  o.content_hash = HashFields(row_.fields, resolved_.index[Idx(Field::kPhone)]);
  return Result::kLine;
}

Reject RejectOfRowError(std::string_view file, const RowError& error) {
  Reject r;
  r.file = file;
  r.line = error.line;
  r.column = error.column;
  r.column_name = error.column_name;
  r.reason_code = error.code;
  r.reason = error.reason;
  return r;
}

std::string RejectCsvRow(const Reject& r) {
  return fmt::format("{},{},{},{},{},{}", CsvTextCell(r.file), r.line, r.column,
                     CsvTextCell(r.column_name), CsvTextCell(r.reason_code), CsvTextCell(r.reason));
}

}  // namespace tessera::io
