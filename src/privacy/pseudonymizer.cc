#include "tessera/privacy/pseudonymizer.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include "tessera/common/text.h"

namespace tessera::privacy {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string Uuid::ToString() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 15]);
  }
  return out;
}

StatusOr<Uuid> Uuid::Parse(std::string_view text) {
  Uuid u;
  if (text.size() != 36) return InvalidArgumentError("not a UUID (expected 8-4-4-4-12 hex digits)");
  size_t pos = 0;
  for (size_t i = 0; i < 16; ++i) {
    if (pos == 8 || pos == 13 || pos == 18 || pos == 23) {
      if (text[pos] != '-')
        return InvalidArgumentError("not a UUID (expected 8-4-4-4-12 hex digits)");
      ++pos;
    }
    const int hi = HexValue(text[pos]), lo = HexValue(text[pos + 1]);
    if (hi < 0 || lo < 0)
      return InvalidArgumentError("not a UUID (expected 8-4-4-4-12 hex digits)");
    u.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
    pos += 2;
  }
  return u;
}

StatusOr<std::string> NormalizeCustomerNumber(std::string_view raw) {
  std::string_view s = TrimWhitespace(raw);
  if (s.empty()) return NotFoundError("customer number is empty");
  // Spreadsheets and pandas turn integer ids into floats: "17850.0" is customer 17850.
  const size_t dot = s.find('.');
  if (dot != std::string_view::npos && dot > 0) {
    const std::string_view whole = s.substr(0, dot), fraction = s.substr(dot + 1);
    const bool digits =
        std::all_of(whole.begin(), whole.end(), [](char c) { return c >= '0' && c <= '9'; });
    const bool zeros = !fraction.empty() && std::all_of(fraction.begin(), fraction.end(),
                                                        [](char c) { return c == '0'; });
    if (digits && zeros) s = whole;
  }
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return InvalidArgumentError("customer number contains a control character");
    }
  }
  return std::string(s);
}

StatusOr<std::string> NormalizeEmail(std::string_view raw) {
  std::string_view s = TrimWhitespace(raw);
  if (s.empty()) return NotFoundError("e-mail is empty");
  const size_t at = s.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == s.size() ||
      s.find('@', at + 1) != std::string_view::npos) {
    return InvalidArgumentError(
        "not an e-mail address (expected one '@' between local part and domain)");
  }
  const std::string_view domain = s.substr(at + 1);
  if (domain.find('.') == std::string_view::npos || domain.front() == '.' || domain.back() == '.') {
    return InvalidArgumentError("not an e-mail address (the domain has no dot)");
  }
  std::string out(s);
  for (char& c : out) {
    if (IsAsciiSpace(c) || static_cast<unsigned char>(c) < 0x20) {
      return InvalidArgumentError("not an e-mail address (contains blanks or control characters)");
    }
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

StatusOr<std::string> NormalizePhone(std::string_view raw, const PhoneDefaults& defaults) {
  const std::string_view s = TrimWhitespace(raw);
  if (s.empty()) return NotFoundError("phone number is empty");
  std::string digits;
  digits.reserve(16);
  bool plus = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
    } else if (c == ' ' || c == '\t' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')') {
      continue;
    } else if (c == '\xc2' && i + 1 < s.size() && s[i + 1] == '\xa0') {
      ++i;  // a no-break space (UTF-8), as spreadsheets write between groups
    } else if (c == '+') {
      if (plus || !digits.empty()) {
        return InvalidArgumentError("not a phone number (a '+' may only begin it)");
      }
      plus = true;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      return InvalidArgumentError("not a phone number (contains letters)");
    } else {
      return InvalidArgumentError(
          "not a phone number (only digits, blanks, '+', '-', '.', '/' and parentheses are "
          "allowed)");
    }
  }
  if (digits.empty()) return InvalidArgumentError("not a phone number (no digits)");
  bool international = plus;
  if (!plus && digits.starts_with("00")) {
    digits.erase(0, 2);
    international = true;
  }
  if (!international && defaults.bare_digits_international && digits[0] != '0') {
    const bool trunk = defaults.country && !defaults.country->trunk_prefix.empty() &&
                       digits.starts_with(defaults.country->trunk_prefix);
    international = !trunk;
  }
  if (international) {
    if (digits.empty() || digits[0] == '0') {
      return InvalidArgumentError("not a phone number (no country calling code begins with 0)");
    }
    const io::CallingCodeMatch code = io::MatchCallingCode(digits);
    if (code.trunk_prefix == "0" && digits.size() > code.code_length &&
        digits[code.code_length] == '0') {
      digits.erase(code.code_length, 1);
      // No number of such a country begins with 0: a second one is a typing error.
      if (digits.size() > code.code_length && digits[code.code_length] == '0') {
        return InvalidArgumentError(
            "not a phone number (more than one 0 after the country calling code)");
      }
    }
  } else {
    if (!defaults.country) {
      return InvalidArgumentError(
          "phone number without a country code (+ or 00), and the mapping sets no "
          "default_phone_country");
    }
    const std::string& trunk = defaults.country->trunk_prefix;
    if (!trunk.empty() && digits.starts_with(trunk)) digits.erase(0, trunk.size());
    digits.insert(0, defaults.country->calling_code);
  }
  if (digits.size() < 8) {
    return InvalidArgumentError(
        "not a phone number (fewer than 8 digits with the country calling code)");
  }
  if (digits.size() > 15) {
    return InvalidArgumentError(
        "not a phone number (more than 15 digits with the country calling code)");
  }
  return "+" + digits;
}

StatusOr<std::string> NormalizeIdentifier(IdentifierKind kind, std::string_view raw,
                                          const PhoneDefaults& phone) {
  switch (kind) {
    case IdentifierKind::kEmail:
      return NormalizeEmail(raw);
    case IdentifierKind::kPhone:
      return NormalizePhone(raw, phone);
    case IdentifierKind::kCustomerNumber:
      break;
  }
  return NormalizeCustomerNumber(raw);
}

std::optional<IdentifierKind> IdentifierKindOfByte(uint8_t byte) {
  for (IdentifierKind kind :
       {IdentifierKind::kCustomerNumber, IdentifierKind::kEmail, IdentifierKind::kPhone}) {
    if (IdentifierKindByte(kind) == byte) return kind;
  }
  return std::nullopt;
}

struct Pseudonymizer::State {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* ctx = nullptr;
  ~State() {
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
  }
};

Pseudonymizer::Pseudonymizer(std::unique_ptr<State> state) : state_(std::move(state)) {}
Pseudonymizer::Pseudonymizer(Pseudonymizer&&) noexcept = default;
Pseudonymizer& Pseudonymizer::operator=(Pseudonymizer&&) noexcept = default;
Pseudonymizer::~Pseudonymizer() = default;

StatusOr<Pseudonymizer> Pseudonymizer::Create(const OwnerKey& key) {
  uint8_t mac_key[32];
  TESSERA_RETURN_IF_ERROR(key.Derive("tessera customer pseudonym v1", mac_key));
  auto state = std::make_unique<State>();
  state->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (state->mac != nullptr) state->ctx = EVP_MAC_CTX_new(state->mac);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  const bool ok =
      state->ctx != nullptr && EVP_MAC_init(state->ctx, mac_key, sizeof(mac_key), params) == 1;
  OPENSSL_cleanse(mac_key, sizeof(mac_key));
  if (!ok) return InternalError("HMAC-SHA256 is not available from OpenSSL");
  return Pseudonymizer(std::move(state));
}

Uuid Pseudonymizer::Pseudonym(IdentifierKind kind, std::string_view normalized) {
  // Re-initialising with a null key keeps the key and resets the MAC (OpenSSL 3 HMAC).
  const uint8_t domain = IdentifierKindByte(kind);
  unsigned char out[32];
  size_t out_len = 0;
  EVP_MAC_init(state_->ctx, nullptr, 0, nullptr);
  EVP_MAC_update(state_->ctx, &domain, 1);
  EVP_MAC_update(state_->ctx, reinterpret_cast<const unsigned char*>(normalized.data()),
                 normalized.size());
  EVP_MAC_final(state_->ctx, out, &out_len, sizeof(out));
  Uuid u;
  std::memcpy(u.bytes.data(), out, 16);
  u.bytes[6] = static_cast<uint8_t>((u.bytes[6] & 0x0f) | 0x80);  // version 8
  u.bytes[8] = static_cast<uint8_t>((u.bytes[8] & 0x3f) | 0x80);  // variant 10
  return u;
}

}  // namespace tessera::privacy
