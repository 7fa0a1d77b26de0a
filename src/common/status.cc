#include "tessera/common/status.h"

namespace tessera {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case StatusCode::kNotFound:
      return "NOT_FOUND";
    case StatusCode::kAlreadyExists:
      return "ALREADY_EXISTS";
    case StatusCode::kFailedPrecondition:
      return "FAILED_PRECONDITION";
    case StatusCode::kPermissionDenied:
      return "PERMISSION_DENIED";
    case StatusCode::kDataLoss:
      return "DATA_LOSS";
    case StatusCode::kUnavailable:
      return "UNAVAILABLE";
    case StatusCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case StatusCode::kInternal:
      return "INTERNAL";
  }
  return "UNKNOWN";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return fmt::format("{}: {}", StatusCodeName(code_), message_);
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  Status out(code_, fmt::format("{}: {}", context, message_));
  out.details_ = details_;
  return out;
}

Status& Status::SetDetail(std::string_view name, Detail value) {
  if (ok()) return *this;
  auto copy = details_ ? std::make_shared<Details>(*details_) : std::make_shared<Details>();
  copy->insert_or_assign(std::string(name), std::move(value));
  details_ = std::move(copy);
  return *this;
}

std::optional<int64_t> Status::IntDetail(std::string_view name) const {
  if (!details_) return std::nullopt;
  const auto it = details_->find(name);
  if (it == details_->end() || !std::holds_alternative<int64_t>(it->second)) return std::nullopt;
  return std::get<int64_t>(it->second);
}

std::optional<std::string> Status::TextDetail(std::string_view name) const {
  if (!details_) return std::nullopt;
  const auto it = details_->find(name);
  if (it == details_->end() || !std::holds_alternative<std::string>(it->second)) {
    return std::nullopt;
  }
  return std::get<std::string>(it->second);
}

const Status::Details& Status::details() const {
  static const Details kNone;
  return details_ ? *details_ : kNone;
}

}  // namespace tessera
