#pragma once

// Column mappings: which source column holds which order field, and how its values are
// written; for files of people (`tessera ingest --kind people`), also which columns hold
// attributes. Presets ship inside the binary (config/mappings/*.toml); users pass their own
// TOML file with the same keys.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/status.h"
#include "tessera/io/phone_numbering.h"
#include "tessera/io/row_source.h"
#include "tessera/io/value_parse.h"

namespace tessera::io {

enum class Field : uint8_t {
  kOrderId,
  kCustomerId,
  kEmail,
  kOrderedAt,
  kAmount,
  kQuantity,
  kUnitPrice,
  kCurrency,
  kStatus,
  kCategory,
  kSku,
  kStore,
  kRegion,
  kChannel,
  kPhone,
  // Order-level money of exports with one row per line item (Shopify, WooCommerce): the
  // order's total (after discounts, with shipping and taxes) and the amount refunded of it;
  // and a column whose non-empty value (a date) says the order was cancelled (voided).
  kOrderTotal,
  kRefundedAmount,
  kCancelledAt,
};
inline constexpr size_t kFieldCount = 18;
std::string_view FieldName(Field f);  // the mapping key: "order_id", "customer_id", ...

// Whether each row is a whole order or one line of an order (lines are grouped by order id).
enum class RowLevel : uint8_t { kOrder, kLine };

// An attribute of people files: its name (what audience expressions call it) and the candidate
// source columns that hold its values (first present wins, case-insensitive).
struct AttributeMapping {
  std::string name;
  std::vector<std::string> columns;
};

// At most this many attributes per mapping or file.
inline constexpr size_t kMaxAttributes = 256;

// Whether `name` can name an attribute: 1 to 64 lower-case ASCII letters, digits and '_',
// starting with a letter (what the audience expression language reads as a field name).
bool IsAttributeName(std::string_view name);

struct Mapping {
  std::string name;  // preset name or file path, for messages
  SourceOptions source;
  // [source] detect: the columns a header must all have (case-insensitive) for `tessera
  // ingest` to pick this preset by itself (DetectPreset); empty: never picked.
  std::vector<std::string> detect;
  // [source] order_fields = "first_line": the export writes an order's fields (customer,
  // time, currency, status, store, totals) on its first line only, and its further lines (the
  // same order id on the rows that follow) carry the line's own fields; those lines take the
  // order's fields from the first line, whatever they hold. Default ("every_line"): each line
  // is read on its own.
  bool order_fields_on_first_line = false;
  std::optional<RowLevel> level;            // unset: line level when quantity/unit_price/sku/
                                            // category are mapped, else order level
  std::optional<DecimalMark> decimal_mark;  // unset: comma for ';'-delimited files, else point
  // Candidate source column names per field, first present wins (case-insensitive).
  std::array<std::vector<std::string>, kFieldCount> columns;
  std::string timestamp_format;  // empty: ISO 8601
  std::string timezone = "UTC";  // for timestamps without an offset
  std::string currency;          // when there is no currency column (or it is empty)
  std::string cancel_prefix;     // order ids starting with this are cancellations (credit notes)
  std::vector<std::string> void_statuses;    // status values of voided orders (not counted)
  std::vector<std::string> credit_statuses;  // status values of returns/credits (subtracted)
  std::vector<std::string> ignore_statuses;  // status values of rows to skip (e.g. "pending")
  // The country of phone numbers written without a country code ([values]
  // default_phone_country: "DE" or "49"); unset: such numbers are rejected.
  std::optional<PhoneCountry> default_phone_country;
  // [values] bare_phone_numbers = "international": digits with neither a '+', a "00" nor a
  // national prefix begin with their country code (MSISDNs such as 491701234567). Default
  // ("national"): they are national numbers of default_phone_country.
  bool bare_phone_numbers_international = false;
  // [attributes], read by people loads only (order loads ignore it): attributes by name, each
  // from the first of its candidate columns present; with `attributes_from_other_columns`
  // ([attributes] other_columns = true) every further column that no identifier field and no
  // attribute uses is an attribute named as the column, lower-cased.
  std::vector<AttributeMapping> attributes;
  bool attributes_from_other_columns = false;
};

// Loads a preset by name ("generic", "online-retail", "cdnow") or a TOML file by path.
// Errors: kNotFound (neither a preset nor a file; lists the presets), kInvalidArgument (TOML
// syntax error or unknown key, with line and column).
StatusOr<Mapping> LoadMapping(std::string_view preset_or_path);
// Parses mapping TOML text; `origin` names it in messages.
StatusOr<Mapping> ParseMapping(std::string_view toml_text, std::string_view origin);
std::vector<std::string> PresetNames();

// A mapping resolved against one file's columns: which selected column feeds each field.
struct ResolvedMapping {
  std::vector<std::string> selected;   // column names to pass to RowSource::Select
  std::array<int, kFieldCount> index;  // per field: index into `selected`, or -1
  RowLevel level = RowLevel::kOrder;
  DecimalMark decimal_mark = DecimalMark::kPoint;
};

// Errors: kInvalidArgument when the file lacks what an order needs (a customer id, e-mail or phone,
// a timestamp, an amount, an order total or a unit price), naming the missing fields and listing
// the columns found.
StatusOr<ResolvedMapping> ResolveMapping(const Mapping& mapping,
                                         const std::vector<std::string>& columns, char delimiter);

// A mapping resolved against the columns of a file of people: the identifier columns (customer
// number, e-mail, phone: at least one) and the attribute columns. Other fields of the mapping
// are ignored.
struct ResolvedPeopleMapping {
  std::vector<std::string> selected;  // column names to pass to RowSource::Select
  // Per identifier field (Field::kCustomerId, kEmail, kPhone in this order): index into
  // `selected`, or -1.
  std::array<int, 3> identifier{-1, -1, -1};
  std::vector<std::string> attribute_names;  // by attribute
  std::vector<int> attribute_index;          // by attribute: index into `selected`
};

// Errors: kInvalidArgument when the file has no identifier column, when an attribute of the
// mapping finds none of its columns, when a column would be an attribute as well as an
// identifier (or a candidate column of an identifier field: identifiers are never stored as
// they are), when two attributes share a name or a column, when a column name of
// other_columns is no attribute name (IsAttributeName), or over kMaxAttributes.
StatusOr<ResolvedPeopleMapping> ResolvePeopleMapping(const Mapping& mapping,
                                                     const std::vector<std::string>& columns);

// The preset made for a file with these columns: the one whose `detect` columns are all
// present (case-insensitive, blanks around a name ignored); nullopt when none is.
// Errors: kInvalidArgument when the header has the columns of more than one preset (naming
// them), so that a file is never read with a guess.
StatusOr<std::optional<std::string>> DetectPreset(const std::vector<std::string>& columns);

// DetectPreset on the header of `path` (CSV with any delimiter, or JSON Lines); nullopt for
// standard input ("-"), which cannot be read twice.
// Errors: those of RowSource::Open and DetectPreset.
StatusOr<std::optional<std::string>> DetectPresetOfFile(const std::string& path);

// The preset to read order `files` with when the user names no mapping: the one their
// headers fit (DetectPreset), else "generic"; `detected` says which. A file that cannot be
// opened is left to the load to report. Standard input is never looked at.
// Errors: kInvalidArgument when a header fits more than one preset, or the files fit
// different presets (naming both files), or some fit a preset and others none.
struct PresetChoice {
  std::string name;
  bool detected = false;
};
StatusOr<PresetChoice> ChooseOrderPreset(const std::vector<std::string>& files);

// Embedded text of a shipped config file ("segments.toml", "mappings/generic.toml"), or
// nullopt.
std::optional<std::string_view> EmbeddedConfig(std::string_view name);

}  // namespace tessera::io
