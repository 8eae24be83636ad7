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

// Thread safety: a plain value type; not synchronized. Distinct Results may be
// used on different threads; one Result shared by threads needs outside locking
// if any of them modifies it.
template <typename T>
class Result {
 public:
  // A success holding `value`.
  Result(T value) : value_(std::move(value)) {}               // NOLINT: implicit by design
  // A failure holding `ec`, which should be non-empty: a Result made from an
  // empty std::error_code is neither ok() nor has an error() (xferq never
  // returns one).
  Result(std::error_code ec) : error_(ec) {}                  // NOLINT: implicit by design

  // True if the Result holds a value. Never throws.
  bool ok() const noexcept { return value_.has_value(); }
  // ok(), for `if (result)`.
  explicit operator bool() const noexcept { return ok(); }
  // The error; empty when ok().
  std::error_code error() const noexcept { return error_; }

  // The value, by reference. Throws std::system_error carrying error() if there
  // is none.
  const T& value() const& { check(); return *value_; }
  T& value() & { check(); return *value_; }
  // On a temporary, the value is moved out (not referenced), so that
  // `for (auto& f : *job.files())` does not outlive the Result. Same throw.
  T value() && { check(); return std::move(*value_); }
  // Shorthands for value(), with the same throw (and the same move on a
  // temporary).
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T operator*() && { return std::move(*this).value(); }
  // Member access to the value; throws like value().
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
