// xferq/result.h — a value or the error that prevented it.
//
// Getters return Result<T>: test it (`if (r)`) before reading the value.
// Reading the value of a failed Result throws std::system_error — that is a
// caller bug, not an expected failure.
#ifndef XFERQ_RESULT_H_
#define XFERQ_RESULT_H_

#include <optional>
#include <system_error>
#include <utility>

namespace xferq {

template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}               // NOLINT: implicit by design
  Result(std::error_code ec) : error_(ec) {}                  // NOLINT: implicit by design

  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  // The error; empty when ok().
  std::error_code error() const noexcept { return error_; }

  const T& value() const& { check(); return *value_; }
  T& value() & { check(); return *value_; }
  // On a temporary, the value is moved out (not referenced), so that
  // `for (auto& f : *job.files())` does not outlive the Result.
  T value() && { check(); return std::move(*value_); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  void check() const {
    if (!value_) throw std::system_error(error_, "xferq::Result has no value");
  }
  std::optional<T> value_;
  std::error_code error_;
};

}  // namespace xferq

#endif  // XFERQ_RESULT_H_
