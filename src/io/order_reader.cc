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
  track_orders_ = resolved_.level == RowLevel::kLine && has_order_id() &&
                  (has_field(Field::kOrderTotal) || has_field(Field::kRefundedAmount) ||
                   mapping_.order_fields_on_first_line);
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
  if (held_) {
    const Result r = *held_;
    held_.reset();
    if (r == Result::kLine) *out = held_line_;
    if (r == Result::kReject || r == Result::kReadError) *reject = std::move(held_reject_);
    return r;
  }
  RowError error;
  bool ok = true;
  if (!source_->Next(&row_, &error, &ok)) {
    return track_orders_ && CloseOrder(out) ? Result::kLine : Result::kEnd;
  }
  if (!ok) {
    *reject = RejectOfRowError(path_, error);
    return error.code == kReadError ? Result::kReadError : Result::kReject;
  }
  if (!track_orders_) return ReadRow(out, reject);

  const std::string_view id = FieldValue(row_, Field::kOrderId);
  const bool continues = order_.open && !id.empty() && id == order_.id;
  OrderLine adjustment;
  bool adjust = false;
  if (!continues) {
    // The row begins another order (or has no order id): the open one is complete.
    adjust = CloseOrder(&adjustment);
    if (!id.empty()) {
      order_.open = true;
      order_.id.assign(id);
      order_.line = row_.line;
    }
  }
  Result r;
  if (continues && order_.rejected) {
    *reject = MakeReject(row_.line, Field::kOrderId, "order_rejected",
                         "the first line of this order was rejected");
    r = Result::kReject;
  } else if (continues && order_.ignored) {
    r = Result::kSkip;
  } else {
    r = ReadRow(out, reject);
  }
  if (order_.open && !continues) {
    order_.rejected = r == Result::kReject;
    order_.ignored = r == Result::kSkip;
    if (r == Result::kLine) {
      // Copies: the row's buffer moves on, and further lines may take these fields.
      const OrderLine& o = *out;
      order_.customer_id.assign(o.customer_id);
      order_.email.assign(o.email);
      order_.phone.assign(o.phone);
      order_.currency.assign(o.currency);
      order_.store.assign(o.store);
      order_.region.assign(o.region);
      order_.channel.assign(o.channel);
      order_.ordered_at = o.ordered_at;
      order_.kind = o.kind;
      order_.has_total = row_total_present_;
      order_.total_micro = row_total_micro_;
      order_.refunded_micro = row_refunded_micro_;
      order_.lines_micro = o.amount_micro;
    }
  } else if (continues && r == Result::kLine) {
    order_.lines_micro += out->amount_micro;
  }
  if (!adjust) return r;
  held_ = r;
  held_line_ = *out;
  held_reject_ = std::move(*reject);
  *out = adjustment;
  return Result::kLine;
}

bool OrderReader::ParseMoney(Field f, uint64_t line, int64_t* micro, bool* present,
                             Reject* reject) {
  *micro = 0;
  *present = false;
  const std::string_view text = FieldValue(row_, f);
  if (text.empty()) return true;
  auto v = ParseDecimal(text, resolved_.decimal_mark, 6);
  if (!v.ok()) {
    *reject = MakeReject(line, f, "bad_number",
                         fmt::format("{}: {}", FieldName(f), v.status().message()));
    return false;
  }
  *micro = *v;
  *present = true;
  return true;
}

bool OrderReader::CloseOrder(OrderLine* line) {
  if (!order_.open) return false;
  std::swap(closed_, order_);
  order_.open = false;
  const OpenOrder& c = closed_;
  if (c.rejected || c.ignored || c.kind == OrderKind::kVoid) return false;
  const int64_t net = (c.has_total ? c.total_micro : c.lines_micro) - c.refunded_micro;
  if (net == c.lines_micro) return false;
  OrderLine& o = *line;
  o = OrderLine();
  o.line = c.line;
  o.order_id = c.id;
  o.customer_id = c.customer_id;
  o.email = c.email;
  o.phone = c.phone;
  o.ordered_at = c.ordered_at;
  o.amount_micro = net - c.lines_micro;
  o.quantity_milli = 0;
  o.currency = c.currency;
  o.kind = c.kind;
  o.store = c.store;
  o.region = c.region;
  o.channel = c.channel;
  // Two fields, unlike any row of the file's selected columns but one-column files: distinct
  // from the order's lines, so never taken for a duplicate of one.
  o.content_hash = HashFields({std::string_view("\x01order total"), o.order_id}, -1);
  o.order_adjustment = true;
  return true;
}

OrderReader::Result OrderReader::ReadRow(OrderLine* out, Reject* reject) {
  const uint64_t line = row_.line;
  // A further line of the open order, which takes the order's fields from its first line.
  const bool from_first =
      track_orders_ && mapping_.order_fields_on_first_line && order_.open && order_.line != line;
  OrderLine& o = *out;
  o = OrderLine();
  o.line = line;

  // Status first: ignored rows are skipped before anything else is checked.
  o.kind = from_first ? order_.kind : OrderKind::kPurchase;
  if (std::string_view status = FieldValue(row_, Field::kStatus); !from_first && !status.empty()) {
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
  if (!from_first && !FieldValue(row_, Field::kCancelledAt).empty()) o.kind = OrderKind::kVoid;

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
  if (from_first) {
    o.customer_id = order_.customer_id;
    o.email = order_.email;
    o.phone = order_.phone;
    o.ordered_at = order_.ordered_at;
  } else {
    o.customer_id = FieldValue(row_, Field::kCustomerId);
    o.email = FieldValue(row_, Field::kEmail);
    o.phone = FieldValue(row_, Field::kPhone);
    auto ts = timestamps_.Parse(FieldValue(row_, Field::kOrderedAt));
    if (!ts.ok()) {
      *reject = MakeReject(line, Field::kOrderedAt, "bad_timestamp", ts.status().message());
      return Result::kReject;
    }
    o.ordered_at = *ts;
  }

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
  } else if (!has_field(Field::kAmount) && !has_field(Field::kUnitPrice)) {
    o.amount_micro = 0;  // lines without amounts: the order total below says what was paid
  } else if (!has_field(Field::kOrderTotal) || track_orders_) {
    const Field f = resolved_.index[Idx(Field::kAmount)] >= 0 ? Field::kAmount : Field::kUnitPrice;
    *reject = MakeReject(line, f, "missing_amount", "amount is empty");
    return Result::kReject;
  }
  // Order-level money: a tracked order's first line notes it for the adjustment line (Next);
  // any other row is an order of its own, its amount the order total net of refunds.
  row_total_present_ = false;
  row_refunded_micro_ = 0;
  if (!from_first) {
    bool refunded = false;
    if (!ParseMoney(Field::kOrderTotal, line, &row_total_micro_, &row_total_present_, reject) ||
        !ParseMoney(Field::kRefundedAmount, line, &row_refunded_micro_, &refunded, reject)) {
      return Result::kReject;
    }
    if (!track_orders_) {
      if (row_total_present_) {
        o.amount_micro = row_total_micro_;
      } else if (has_field(Field::kOrderTotal) && amount.empty() &&
                 FieldValue(row_, Field::kUnitPrice).empty()) {
        *reject = MakeReject(line, Field::kOrderTotal, "missing_amount", "order total is empty");
        return Result::kReject;
      }
      o.amount_micro -= row_refunded_micro_;
    }
  }

  o.currency = from_first ? std::string_view(order_.currency) : FieldValue(row_, Field::kCurrency);
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
  o.store = from_first ? std::string_view(order_.store) : FieldValue(row_, Field::kStore);
  o.region = from_first ? std::string_view(order_.region) : FieldValue(row_, Field::kRegion);
  o.channel = from_first ? std::string_view(order_.channel) : FieldValue(row_, Field::kChannel);
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
