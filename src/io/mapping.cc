#include "tessera/io/mapping.h"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tessera/common/text.h"
#include "tessera/io/columns.h"

namespace tessera::io {
namespace internal {
extern const std::pair<std::string_view, std::string_view> kEmbeddedConfig[];
extern const int kEmbeddedConfigCount;
}  // namespace internal

namespace {

constexpr std::string_view kFieldNames[kFieldCount] = {
    "order_id", "customer_id", "email",    "ordered_at", "amount",
    "quantity", "unit_price",  "currency", "status",     "category",
    "sku",      "store",       "region",   "channel",    "phone"};

std::string Where(std::string_view origin, const toml::node& node) {
  const auto& src = node.source();
  return fmt::format("{}:{}:{}", origin, src.begin.line, src.begin.column);
}

Status StringList(const toml::node& node, std::string_view origin, std::string_view key,
                  std::vector<std::string>* out) {
  out->clear();
  if (auto s = node.value<std::string>()) {
    if (!s->empty()) out->push_back(*s);
    return OkStatus();
  }
  if (const toml::array* arr = node.as_array()) {
    for (const toml::node& item : *arr) {
      auto s = item.value<std::string>();
      if (!s) return InvalidArgumentError("{}: {} must list strings", Where(origin, item), key);
      out->push_back(*s);
    }
    return OkStatus();
  }
  return InvalidArgumentError("{}: {} must be a string or a list of strings", Where(origin, node),
                              key);
}

Status ParseSource(const toml::table& t, std::string_view origin, Mapping* m) {
  for (const auto& [key, node] : t) {
    const std::string k(key.str());
    auto str = node.value<std::string>();
    if (k == "format") {
      if (str == "auto")
        m->source.format = InputFormat::kAuto;
      else if (str == "csv")
        m->source.format = InputFormat::kCsv;
      else if (str == "jsonl")
        m->source.format = InputFormat::kJsonLines;
      else
        return InvalidArgumentError("{}: format must be auto, csv or jsonl", Where(origin, node));
    } else if (k == "delimiter") {
      if (str == "auto")
        m->source.csv.delimiter = 0;
      else if (str == "whitespace")
        m->source.csv.whitespace_separated = true;
      else if (str && (*str == "," || *str == ";" || *str == "\t" || *str == "|"))
        m->source.csv.delimiter = (*str)[0];
      else
        return InvalidArgumentError(
            "{}: delimiter must be auto, \",\", \";\", \"\\t\", \"|\" or whitespace",
            Where(origin, node));
    } else if (k == "header") {
      // as_boolean(), not value<bool>(): value() would read header = 1 as true.
      const auto* b = node.as_boolean();
      if (b == nullptr)
        return InvalidArgumentError("{}: header must be true or false", Where(origin, node));
      m->source.csv.has_header = b->get();
    } else if (k == "level") {
      if (str == "order")
        m->level = RowLevel::kOrder;
      else if (str == "line")
        m->level = RowLevel::kLine;
      else
        return InvalidArgumentError("{}: level must be order or line", Where(origin, node));
    } else if (k == "decimal") {
      if (str == "point")
        m->decimal_mark = DecimalMark::kPoint;
      else if (str == "comma")
        m->decimal_mark = DecimalMark::kComma;
      else if (str == "auto")
        m->decimal_mark.reset();
      else
        return InvalidArgumentError("{}: decimal must be point, comma or auto",
                                    Where(origin, node));
    } else {
      return InvalidArgumentError(
          "{}: unknown key [source].{} (known: format, delimiter, header, level, decimal)",
          Where(origin, node), k);
    }
  }
  return OkStatus();
}

Status ParseColumns(const toml::table& t, std::string_view origin, Mapping* m) {
  for (const auto& [key, node] : t) {
    const std::string k(key.str());
    const auto it = std::find(std::begin(kFieldNames), std::end(kFieldNames), k);
    if (it == std::end(kFieldNames)) {
      return InvalidArgumentError(
          "{}: unknown field [columns].{} (known: order_id, customer_id, email, phone, "
          "ordered_at, amount, quantity, unit_price, currency, status, category, sku, store, "
          "region, channel)",
          Where(origin, node), k);
    }
    TESSERA_RETURN_IF_ERROR(StringList(node, origin, k, &m->columns[it - std::begin(kFieldNames)]));
  }
  return OkStatus();
}

Status ParseValues(const toml::table& t, std::string_view origin, Mapping* m) {
  for (const auto& [key, node] : t) {
    const std::string k(key.str());
    auto str = node.value<std::string>();
    // A named reference: clang before 16 cannot capture structured bindings.
    const toml::node& value_node = node;
    auto need_string = [&]() -> Status {
      if (!str)
        return InvalidArgumentError("{}: {} must be a string", Where(origin, value_node), k);
      return OkStatus();
    };
    if (k == "timestamp_format") {
      TESSERA_RETURN_IF_ERROR(need_string());
      m->timestamp_format = *str;
    } else if (k == "timezone") {
      TESSERA_RETURN_IF_ERROR(need_string());
      m->timezone = *str;
    } else if (k == "currency") {
      TESSERA_RETURN_IF_ERROR(need_string());
      m->currency = *str;
    } else if (k == "cancel_prefix") {
      TESSERA_RETURN_IF_ERROR(need_string());
      m->cancel_prefix = *str;
    } else if (k == "void_statuses") {
      TESSERA_RETURN_IF_ERROR(StringList(node, origin, k, &m->void_statuses));
    } else if (k == "credit_statuses") {
      TESSERA_RETURN_IF_ERROR(StringList(node, origin, k, &m->credit_statuses));
    } else if (k == "ignore_statuses") {
      TESSERA_RETURN_IF_ERROR(StringList(node, origin, k, &m->ignore_statuses));
    } else if (k == "default_phone_country") {
      // A bare number (49) is a calling code too; TOML would read it as an integer.
      std::string country;
      if (str) {
        country = *str;
      } else if (auto n = node.value_exact<int64_t>()) {
        country = std::to_string(*n);
      } else {
        return InvalidArgumentError("{}: default_phone_country must be a string such as \"DE\"",
                                    Where(origin, node));
      }
      if (country.empty()) {
        m->default_phone_country.reset();
        continue;
      }
      auto found = FindPhoneCountry(country);
      if (!found.ok()) {
        return InvalidArgumentError("{}: default_phone_country: {}", Where(origin, node),
                                    found.status().message());
      }
      m->default_phone_country = *std::move(found);
    } else if (k == "bare_phone_numbers") {
      if (str == "national")
        m->bare_phone_numbers_international = false;
      else if (str == "international")
        m->bare_phone_numbers_international = true;
      else
        return InvalidArgumentError("{}: bare_phone_numbers must be national or international",
                                    Where(origin, node));
    } else {
      return InvalidArgumentError(
          "{}: unknown key [values].{} (known: timestamp_format, timezone, currency, "
          "cancel_prefix, void_statuses, credit_statuses, ignore_statuses, "
          "default_phone_country, bare_phone_numbers)",
          Where(origin, node), k);
    }
  }
  for (auto* list : {&m->void_statuses, &m->credit_statuses, &m->ignore_statuses}) {
    for (auto& s : *list) s = AsciiLower(s);
  }
  return OkStatus();
}

}  // namespace

std::string_view FieldName(Field f) { return kFieldNames[static_cast<size_t>(f)]; }

std::optional<std::string_view> EmbeddedConfig(std::string_view name) {
  for (int i = 0; i < internal::kEmbeddedConfigCount; ++i) {
    if (internal::kEmbeddedConfig[i].first == name) return internal::kEmbeddedConfig[i].second;
  }
  return std::nullopt;
}

std::vector<std::string> PresetNames() {
  std::vector<std::string> names;
  for (int i = 0; i < internal::kEmbeddedConfigCount; ++i) {
    std::string_view n = internal::kEmbeddedConfig[i].first;
    if (n.starts_with("mappings/") && n.ends_with(".toml")) {
      names.emplace_back(n.substr(9, n.size() - 9 - 5));
    }
  }
  return names;
}

StatusOr<Mapping> ParseMapping(std::string_view toml_text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string(origin));
  } catch (const toml::parse_error& e) {
    return InvalidArgumentError("{}:{}:{}: {}", origin, e.source().begin.line,
                                e.source().begin.column, e.description());
  }
  Mapping m;
  m.name = std::string(origin);
  for (const auto& [key, node] : root) {
    const std::string k(key.str());
    const toml::table* t = node.as_table();
    if (t == nullptr || (k != "source" && k != "columns" && k != "values")) {
      return InvalidArgumentError("{}: unknown section '{}' (known: [source], [columns], [values])",
                                  Where(origin, node), k);
    }
    if (k == "source") TESSERA_RETURN_IF_ERROR(ParseSource(*t, origin, &m));
    if (k == "columns") TESSERA_RETURN_IF_ERROR(ParseColumns(*t, origin, &m));
    if (k == "values") TESSERA_RETURN_IF_ERROR(ParseValues(*t, origin, &m));
  }
  TESSERA_ASSIGN_OR_RETURN(auto ts, TimestampParser::Create(m.timestamp_format, m.timezone));
  (void)ts;  // validated here so that a bad format fails before any file is read
  return m;
}

StatusOr<Mapping> LoadMapping(std::string_view preset_or_path) {
  const std::string key = "mappings/" + std::string(preset_or_path) + ".toml";
  if (auto text = EmbeddedConfig(key)) return ParseMapping(*text, preset_or_path);
  const std::string path(preset_or_path);
  std::error_code ec;
  // A directory opens as an empty stream, which would parse as a mapping without columns.
  std::ifstream in;
  if (!std::filesystem::is_directory(path, ec)) in.open(path);
  if (!in.is_open() || !in) {
    std::string presets;
    for (const auto& n : PresetNames()) presets += (presets.empty() ? "" : ", ") + n;
    return NotFoundError("mapping '{}' is neither a preset ({}) nor a readable file", path,
                         presets);
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseMapping(buffer.str(), path);
}

StatusOr<ResolvedMapping> ResolveMapping(const Mapping& mapping,
                                         const std::vector<std::string>& columns, char delimiter) {
  ResolvedMapping r;
  r.index.fill(-1);
  std::vector<std::string> lower_columns;
  for (const auto& c : columns) lower_columns.push_back(AsciiLower(c));
  for (size_t f = 0; f < kFieldCount; ++f) {
    for (const auto& candidate : mapping.columns[f]) {
      const std::string lc = AsciiLower(candidate);
      // JSON Lines columns are the first object's keys: a field it lacks stays unmapped.
      const auto it = std::find(lower_columns.begin(), lower_columns.end(), lc);
      if (it == lower_columns.end()) continue;
      // Two columns of the name the mapping uses: which one holds the value is anyone's guess.
      if (const auto again = std::find(it + 1, lower_columns.end(), lc);
          again != lower_columns.end()) {
        return InvalidArgumentError(
            "column '{}' appears twice (columns {} and {}); rename one, or map the field to "
            "another column with --mapping",
            columns[static_cast<size_t>(it - lower_columns.begin())],
            it - lower_columns.begin() + 1, again - lower_columns.begin() + 1);
      }
      r.index[f] = static_cast<int>(r.selected.size());
      // The file's own spelling, so that rejects name the column as the user sees it.
      r.selected.push_back(columns[static_cast<size_t>(it - lower_columns.begin())]);
      break;
    }
  }
  auto has = [&](Field f) { return r.index[static_cast<size_t>(f)] >= 0; };
  std::vector<std::string> missing;
  if (!has(Field::kCustomerId) && !has(Field::kEmail) && !has(Field::kPhone)) {
    missing.push_back("customer_id, email or phone");
  }
  if (!has(Field::kOrderedAt)) missing.push_back("ordered_at");
  if (!has(Field::kAmount) && !has(Field::kUnitPrice)) missing.push_back("amount or unit_price");
  if (!missing.empty()) {
    std::string need;
    for (const auto& m : missing) need += (need.empty() ? "" : "; ") + m;
    const ColumnsDescription found = DescribeColumns(columns);
    return InvalidArgumentError(
        "cannot map the columns with mapping '{}': no column for {}. Columns found: {}.{} Pass "
        "--mapping with a preset or a mapping file that names them",
        mapping.name, need, found.text,
        found.looks_like_data ? " Does the file start with a header row? If not, set header = "
                                "false in a mapping file."
                              : "");
  }
  if (mapping.level) {
    r.level = *mapping.level;
  } else {
    r.level =
        has(Field::kQuantity) || has(Field::kUnitPrice) || has(Field::kSku) || has(Field::kCategory)
            ? RowLevel::kLine
            : RowLevel::kOrder;
  }
  r.decimal_mark =
      mapping.decimal_mark.value_or(delimiter == ';' ? DecimalMark::kComma : DecimalMark::kPoint);
  return r;
}

}  // namespace tessera::io
