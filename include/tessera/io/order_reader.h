#pragma once

// Turns the rows of one export file into typed order lines through a column mapping, and
// validates every value. A row that fails becomes a Reject (file, line, column, reason),
// never an exception and never a message that repeats the value.
//
// Privacy: OrderLine holds raw identifiers (customer number, e-mail, phone, order id) as views into
// the reader's buffer, valid until the next call; callers pseudonymize them at once.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/common/status.h"
#include "tessera/io/mapping.h"
#include "tessera/io/row_source.h"
#include "tessera/io/value_parse.h"

namespace tessera::io {

// How an order counts (see docs/ingest.md):
//  kPurchase  counts as an order and adds its amount to revenue;
//  kCredit    a return or cancellation note (UCI invoices "C..."): subtracts its amount's
//             absolute value from revenue, is not an order;
//  kVoid      a cancelled order: neither an order nor revenue.
enum class OrderKind : uint8_t { kPurchase = 0, kCredit = 1, kVoid = 2 };

struct OrderLine {
  uint64_t line = 0;             // physical line of the row in its file
  std::string_view order_id;     // empty when the source has no order id
  std::string_view customer_id;  // raw, possibly empty
  std::string_view email;        // raw, possibly empty
  std::string_view phone;        // raw, possibly empty
  int64_t ordered_at = 0;        // Unix seconds, UTC
  int64_t amount_micro = 0;      // line total (quantity x unit price) or order amount, 10^-6 units
  int64_t quantity_milli = 0;    // 10^-3 units; 1000 when the source has no quantity
  std::string_view currency;     // ISO code, upper case ("" = the mapping's default)
  OrderKind kind = OrderKind::kPurchase;
  std::string_view category, sku, store, region, channel;
  // Hash of every mapped field but the phone, to spot byte-identical duplicates (and to name
  // the orders of a file without order ids).
  uint64_t content_hash = 0;
  // The line OrderReader::Next adds after an order's last line to bring the order to its
  // total (no row of the file: not counted as a row read).
  bool order_adjustment = false;
};

struct Reject {
  std::string file;
  uint64_t line = 0;
  uint32_t column = 0;      // 1-based position, 0 when not tied to a column
  std::string column_name;  // source column name, empty when not tied to a column
  std::string reason_code;  // short stable key for summaries: "bad_timestamp", "bad_number", ...
  std::string reason;       // human-readable, never containing the value
};

// The reject for a row of `file` that its RowSource could not read: the error's position,
// code and reason, unchanged.
Reject RejectOfRowError(std::string_view file, const RowError& error);

// The rejects report as CSV, the same from every writer (the CLI's --rejects file, the API's
// /loads/{id}/rejects?format=csv): this header, then one row per reject without its line end,
// every text cell formula-safe (CsvTextCell: a file named "=cmd|..." never runs in Excel).
inline constexpr std::string_view kRejectsCsvHeader =
    "file,line,column,column_name,reason_code,reason";
std::string RejectCsvRow(const Reject& r);

class OrderReader {
 public:
  // Opens `path` and resolves `mapping` against its columns.
  // Errors: those of RowSource::Open, and kInvalidArgument when the columns cannot be mapped.
  static StatusOr<std::unique_ptr<OrderReader>> Open(const std::string& path,
                                                     const Mapping& mapping);

  enum class Result { kLine, kReject, kSkip, kReadError, kEnd };
  // Reads the next row: kLine fills *line, kReject fills *reject, kSkip means a row the
  // mapping says to ignore (an ignored status), kEnd ends the file. kReadError (with *reject
  // saying why) means the file broke off before its end: what was read is only part of it.
  //
  // Line items of an export with order totals (order_total, refunded_amount mapped at line
  // level): after the last line of an order (the next row has another order id, or the file
  // ends), one more line of that order, without sku, category or quantity, carries the
  // difference between the order's total net of refunds and the sum of its lines (discounts,
  // shipping, taxes, refunds), so that the order's amount is its total net of refunds while
  // each line keeps its own amount. Lines of an order whose first line was rejected are
  // rejected too (`order_rejected`), and those of an order whose first line's status is
  // ignored are skipped.
  Result Next(OrderLine* line, Reject* reject);

  // A reject for `field` of the row at `line` (for checks made after reading, such as
  // identifier normalization).
  Reject MakeFieldReject(uint64_t line, Field field, std::string reason_code,
                         std::string reason) const {
    return MakeReject(line, field, std::move(reason_code), std::move(reason));
  }

  RowLevel level() const { return resolved_.level; }
  bool has_order_id() const { return has_field(Field::kOrderId); }
  bool has_field(Field f) const { return resolved_.index[static_cast<size_t>(f)] >= 0; }
  uint64_t bytes_read() const { return source_->bytes_read(); }
  const std::string& path() const { return path_; }

 private:
  OrderReader(std::string path, const Mapping& mapping, std::unique_ptr<RowSource> source,
              ResolvedMapping resolved, TimestampParser timestamps);
  Result ReadRow(OrderLine* line, Reject* reject);
  // Parses an order-level money column into *micro (0 when the cell is empty, *present false).
  bool ParseMoney(Field f, uint64_t line, int64_t* micro, bool* present, Reject* reject);
  // Closes the open order (order_) and, when its lines do not add up to its total net of
  // refunds, fills *line with the line that does. False when no line is needed.
  bool CloseOrder(OrderLine* line);
  std::string_view FieldValue(const Row& row, Field f) const;
  Reject MakeReject(uint64_t line, Field f, std::string reason_code, std::string reason) const;

  std::string path_;
  Mapping mapping_;  // a copy: callers often pass a temporary (*LoadMapping(...))
  std::unique_ptr<RowSource> source_;
  ResolvedMapping resolved_;
  TimestampParser timestamps_;
  std::string currency_upper_;
  Row row_;
  std::string currency_buffer_;  // an upper-cased currency code ("eur" -> "EUR")
  enum StatusClass { kStatusPurchase, kStatusVoid, kStatusCredit, kStatusIgnore };
  std::string last_status_;  // the previous row's status value and its class
  int last_status_class_ = kStatusPurchase;

  // Line-level exports with order totals or order fields on the first line only: the order
  // being read (its order-level fields as its first line had them) and the one just closed,
  // whose adjustment line views its copies.
  // Privacy: copies of the order's identifiers, overwritten by the next order.
  struct OpenOrder {
    bool open = false, rejected = false, ignored = false;
    uint64_t line = 0;
    std::string id, customer_id, email, phone, currency, category, store, region, channel;
    int64_t ordered_at = 0;
    OrderKind kind = OrderKind::kPurchase;
    bool has_total = false;
    int64_t total_micro = 0, refunded_micro = 0, lines_micro = 0;
  };
  bool track_orders_ = false;
  // The order-level money of the row ReadRow read last (order total, refunds).
  bool row_total_present_ = false;
  int64_t row_total_micro_ = 0, row_refunded_micro_ = 0;
  OpenOrder order_, closed_;
  // A row read after the last line of an order is returned after that order's adjustment.
  std::optional<Result> held_;
  OrderLine held_line_;
  Reject held_reject_;
};

}  // namespace tessera::io
