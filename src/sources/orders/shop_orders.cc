#include "sources/orders/shop_orders.h"

#include <map>
#include <optional>
#include <tuple>

namespace tessera::sources::internal {
namespace {

using Json = nlohmann::json;

// The fields of the CSV presets (config/mappings/shopify.toml, woocommerce.toml), read from
// records whose keys this module writes. A Shopify order's id is its name ("#1001"), as in the
// CSV export, so that an order loaded from an export and pulled later is stored once.
// Both kinds' records have the same keys; only what their statuses mean differs.
constexpr std::string_view kColumns = R"toml(
[source]
format = "jsonl"
level = "line"
decimal = "point"

[columns]
order_id = "order_id"
customer_id = "customer_id"
email = "email"
phone = "phone"
ordered_at = "ordered_at"
quantity = "quantity"
unit_price = "unit_price"
amount = "amount"
sku = "sku"
category = "category"
order_total = "order_total"
refunded_amount = "refunded_amount"
cancelled_at = "cancelled_at"
currency = "currency"
status = "status"
region = "region"
channel = "channel"

[values]
timezone = "UTC"
)toml";

std::string ShopMapping(std::string_view void_statuses, std::string_view ignore_statuses) {
  return fmt::format("{}void_statuses = {}\nignore_statuses = {}\n", kColumns, void_statuses,
                     ignore_statuses);
}

// A scalar as text: strings as they are, integers in decimal; nullopt for anything else
// (absent, null, an object). Floating-point numbers are refused by the callers that need
// exact money (they read the API's string fields).
std::optional<std::string> Text(const Json& o, std::string_view key) {
  if (!o.is_object()) return std::nullopt;
  const auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  if (it->is_number_unsigned()) return std::to_string(it->get<uint64_t>());
  return std::nullopt;
}

const Json& Member(const Json& o, std::string_view key) {
  static const Json kNull;
  if (!o.is_object()) return kNull;
  const auto it = o.find(key);
  return it == o.end() ? kNull : *it;
}

Status ShapeError(size_t position, std::string_view field, std::string_view what) {
  return InvalidArgumentError("order {} of the page: '{}' {}", position, field, what);
}

StatusOr<std::string> Required(const Json& o, std::string_view key, size_t position) {
  auto v = Text(o, key);
  if (!v || v->empty()) return ShapeError(position, key, "is missing or not a string");
  return *v;
}

// A money amount of the API (a decimal string, or an integer) in micro-units.
StatusOr<int64_t> Money(const Json& o, std::string_view key, size_t position,
                        std::string_view name) {
  const Json& v = Member(o, key);
  if (v.is_null()) return int64_t{0};
  std::string text;
  if (v.is_string()) {
    text = v.get<std::string>();
  } else if (v.is_number_integer()) {
    text = std::to_string(v.get<int64_t>());
  } else if (v.is_number_float()) {
    // JSON numbers with a fraction are read from their shortest decimal form.
    text = v.dump();
  } else {
    return ShapeError(position, name, "is not an amount");
  }
  if (text.empty()) return int64_t{0};
  auto micro = io::ParseDecimal(text, io::DecimalMark::kPoint, 6);
  if (!micro.ok()) return ShapeError(position, name, "is not an amount");
  return *micro;
}

struct Line {
  std::string sku, category;
  int64_t quantity = 0;     // whole items
  int64_t price_micro = 0;  // unit price (Shopify) or line total (WooCommerce), micro-units
};

struct Order {
  std::string id, order_id, customer_id, email, phone, ordered_at, currency, status, cancelled_at,
      region, channel;
  int64_t updated_at = 0;
  int64_t total_micro = 0, refunded_micro = 0;
  bool line_totals = false;  // WooCommerce: each line's price_micro is the line's total
  std::vector<Line> lines;
};

StatusOr<int64_t> Timestamp(const Json& o, std::string_view key, size_t position,
                            io::TimestampParser& timestamps) {
  TESSERA_ASSIGN_OR_RETURN(const std::string text, Required(o, key, position));
  auto t = timestamps.Parse(text);
  if (!t.ok()) return ShapeError(position, key, "is not a date: " + t.status().message());
  return *t;
}

// The line items of either kind: `category_key` first, then "category", names a line's
// category; `price_key` holds its price (Shopify: per unit, WooCommerce: the line's total).
Status ReadLines(const Json& items, size_t position, const char* category_key,
                 const std::string& price_key, Order* out) {
  if (!items.is_array()) return OkStatus();
  for (const Json& item : items) {
    if (!item.is_object()) return ShapeError(position, "line_items", "holds a non-object");
    Line line;
    line.sku = Text(item, "sku").value_or("");
    line.category = Text(item, category_key).value_or(Text(item, "category").value_or(""));
    const Json& q = Member(item, "quantity");
    if (!q.is_number_integer()) {
      return ShapeError(position, "line_items.quantity", "is not a whole number");
    }
    line.quantity = q.get<int64_t>();
    TESSERA_ASSIGN_OR_RETURN(line.price_micro,
                             Money(item, price_key, position, "line_items." + price_key));
    out->lines.push_back(std::move(line));
  }
  return OkStatus();
}

StatusOr<Order> ReadShopify(const Json& o, size_t position, io::TimestampParser& timestamps) {
  Order out;
  TESSERA_ASSIGN_OR_RETURN(out.id, Required(o, "id", position));
  out.order_id = Text(o, "name").value_or("");
  if (out.order_id.empty()) out.order_id = out.id;
  TESSERA_ASSIGN_OR_RETURN(out.updated_at, Timestamp(o, "updated_at", position, timestamps));
  TESSERA_ASSIGN_OR_RETURN(out.ordered_at, Required(o, "created_at", position));
  out.email = Text(o, "email").value_or("");
  if (out.email.empty()) out.email = Text(o, "contact_email").value_or("");
  const Json& billing = Member(o, "billing_address");
  out.phone = Text(o, "phone").value_or("");
  if (out.phone.empty()) out.phone = Text(billing, "phone").value_or("");
  // The shop's customer number decides only where the export would have nothing: the CSV
  // export identifies customers by e-mail, and the pseudonyms must agree.
  if (out.email.empty() && out.phone.empty()) {
    out.customer_id = Text(Member(o, "customer"), "id").value_or("");
  }
  out.currency = Text(o, "currency").value_or("");
  out.status = Text(o, "financial_status").value_or("");
  out.cancelled_at = Text(o, "cancelled_at").value_or("");
  out.region = Text(billing, "country_code").value_or("");
  out.channel = Text(o, "source_name").value_or("");
  if (Member(o, "total_price").is_null()) return ShapeError(position, "total_price", "is missing");
  TESSERA_ASSIGN_OR_RETURN(out.total_micro, Money(o, "total_price", position, "total_price"));
  const Json& refunds = Member(o, "refunds");
  if (refunds.is_array()) {
    for (const Json& refund : refunds) {
      const Json& transactions = Member(refund, "transactions");
      if (!transactions.is_array()) continue;
      for (const Json& t : transactions) {
        if (Text(t, "kind").value_or("") != "refund") continue;
        if (Text(t, "status").value_or("success") != "success") continue;
        TESSERA_ASSIGN_OR_RETURN(const int64_t amount,
                                 Money(t, "amount", position, "refunds.transactions.amount"));
        out.refunded_micro += amount < 0 ? -amount : amount;
      }
    }
  }
  const Json& items = Member(o, "line_items");
  if (!items.is_null() && !items.is_array()) {
    return ShapeError(position, "line_items", "is not a list");
  }
  TESSERA_RETURN_IF_ERROR(ReadLines(items, position, "product_type", "price", &out));
  return out;
}

StatusOr<Order> ReadWooCommerce(const Json& o, size_t position, io::TimestampParser& timestamps) {
  Order out;
  TESSERA_ASSIGN_OR_RETURN(out.id, Required(o, "id", position));
  out.order_id = out.id;  // the CSV export's order_id
  // The *_gmt fields are UTC without an offset; the others are the shop's local time.
  TESSERA_ASSIGN_OR_RETURN(out.updated_at, Timestamp(o, "date_modified_gmt", position, timestamps));
  TESSERA_ASSIGN_OR_RETURN(out.ordered_at, Required(o, "date_created_gmt", position));
  const Json& billing = Member(o, "billing");
  out.email = Text(billing, "email").value_or("");
  out.phone = Text(billing, "phone").value_or("");
  if (out.email.empty() && out.phone.empty()) {
    const std::string customer = Text(o, "customer_id").value_or("");
    if (customer != "0") out.customer_id = customer;  // 0: a guest
  }
  out.currency = Text(o, "currency").value_or("");
  TESSERA_ASSIGN_OR_RETURN(out.status, Required(o, "status", position));
  out.region = Text(billing, "country").value_or("");
  out.channel = Text(o, "created_via").value_or("");
  if (Member(o, "total").is_null()) return ShapeError(position, "total", "is missing");
  TESSERA_ASSIGN_OR_RETURN(out.total_micro, Money(o, "total", position, "total"));
  const Json& refunds = Member(o, "refunds");
  if (refunds.is_array()) {
    for (const Json& refund : refunds) {
      TESSERA_ASSIGN_OR_RETURN(const int64_t amount,
                               Money(refund, "total", position, "refunds.total"));
      out.refunded_micro += amount < 0 ? -amount : amount;
    }
  }
  out.line_totals = true;
  const Json& items = Member(o, "line_items");
  if (!items.is_null() && !items.is_array()) {
    return ShapeError(position, "line_items", "is not a list");
  }
  TESSERA_RETURN_IF_ERROR(ReadLines(items, position, "category", "total", &out));
  return out;
}

}  // namespace

std::string_view MappingToml(SourceKind kind) {
  static const std::string shopify =
      ShopMapping(R"(["voided", "refunded"])", R"(["pending", "expired"])");
  static const std::string woocommerce =
      ShopMapping(R"(["cancelled", "failed", "refunded", "trash"])",
                  R"(["pending", "on-hold", "checkout-draft", "draft"])");
  return kind == SourceKind::kShopify ? shopify : woocommerce;
}

StatusOr<OrderStamp> AppendOrderRecords(SourceKind kind, const Json& order, size_t position,
                                        io::TimestampParser& timestamps, std::string* jsonl) {
  if (!order.is_object())
    return InvalidArgumentError("order {} of the page is not an object", position);
  TESSERA_ASSIGN_OR_RETURN(Order o, kind == SourceKind::kShopify
                                        ? ReadShopify(order, position, timestamps)
                                        : ReadWooCommerce(order, position, timestamps));
  // The loader skips a line that repeats another of its order byte for byte (an export
  // glitch); two items of the same product and price are one line of their summed quantity.
  std::vector<Line> lines;
  std::map<std::tuple<std::string, std::string, int64_t>, size_t> at;
  for (Line& l : o.lines) {
    const auto key = std::make_tuple(l.sku, l.category, o.line_totals ? 0 : l.price_micro);
    if (auto it = at.find(key); it != at.end()) {
      Line& merged = lines[it->second];
      merged.quantity += l.quantity;
      if (o.line_totals) merged.price_micro += l.price_micro;
      continue;
    }
    at.emplace(key, lines.size());
    lines.push_back(std::move(l));
  }
  if (lines.empty()) lines.push_back(Line{"", "", 1, 0});  // the total says what was paid
  // Every record has every key, empty where the order has no value: a JSON Lines file's
  // columns are the keys of its first record.
  Json record = Json::object();
  record["order_id"] = o.order_id;
  record["customer_id"] = o.customer_id;
  record["email"] = o.email;
  record["phone"] = o.phone;
  record["ordered_at"] = o.ordered_at;
  record["currency"] = o.currency;
  record["status"] = o.status;
  record["cancelled_at"] = o.cancelled_at;
  record["region"] = o.region;
  record["channel"] = o.channel;
  record["order_total"] = io::FormatDecimal(o.total_micro, 6);
  record["refunded_amount"] = o.refunded_micro != 0 ? io::FormatDecimal(o.refunded_micro, 6) : "";
  for (const Line& l : lines) {
    Json r = record;
    r["sku"] = l.sku;
    r["category"] = l.category;
    r["quantity"] = std::to_string(l.quantity);
    const std::string price = io::FormatDecimal(l.price_micro, 6);
    r["unit_price"] = o.line_totals ? "" : price;
    r["amount"] = o.line_totals ? price : "";
    // Replacement characters rather than an exception for text that is not UTF-8: the loader
    // reads the record and reports a bad value by position.
    *jsonl += r.dump(-1, ' ', false, Json::error_handler_t::replace);
    *jsonl += '\n';
  }
  return OrderStamp{o.id, o.order_id, o.updated_at};
}

StatusOr<std::vector<Json>> ParseOrders(SourceKind kind, std::string_view body, bool single) {
  Json doc;
  try {
    doc = Json::parse(body);
  } catch (const Json::parse_error& e) {
    // e.what() quotes the text it read last, which may be personal: the position only.
    return InvalidArgumentError("the body is not JSON (it breaks at byte {})", e.byte);
  } catch (const Json::exception&) {
    // A number beyond double's range (nlohmann's out_of_range 406, whose what() quotes it).
    return InvalidArgumentError("the body is not JSON that can be read: a number is out of range");
  }
  std::vector<Json> orders;
  if (single) {
    if (!doc.is_object()) return InvalidArgumentError("the body is not a JSON object");
    // A Shopify webhook sends the order itself; some relays wrap it as {"order": {...}}.
    if (doc.contains("order") && doc["order"].is_object()) {
      orders.push_back(std::move(doc["order"]));
    } else {
      orders.push_back(std::move(doc));
    }
    return orders;
  }
  if (kind == SourceKind::kShopify) {
    if (!doc.is_object() || !doc.contains("orders") || !doc["orders"].is_array()) {
      return InvalidArgumentError("the body is not a Shopify orders page (no \"orders\" list)");
    }
    for (Json& o : doc["orders"]) orders.push_back(std::move(o));
  } else {
    if (!doc.is_array()) {
      return InvalidArgumentError("the body is not a WooCommerce orders page (not a JSON list)");
    }
    for (Json& o : doc) orders.push_back(std::move(o));
  }
  return orders;
}

}  // namespace tessera::sources::internal
