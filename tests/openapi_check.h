// openapi_check.h — checks the server's real answers against
// docs/openapi.json: the operation (path template and method) must be
// documented, the status listed for it, and a JSON body must match the
// response's schema (the subset of OpenAPI 3.0 schemas the file uses: $ref,
// type, nullable, enum, required, properties, additionalProperties: false,
// items, pattern, minimum / maximum). Records which operations were seen.
#ifndef XFERQ_TESTS_OPENAPI_CHECK_H_
#define XFERQ_TESTS_OPENAPI_CHECK_H_

#include <nlohmann/json.hpp>

#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace xferq::testing {

// Thread safety: not synchronized; one test thread uses it.
class OpenApiSpec {
 public:
  explicit OpenApiSpec(const std::string& file) : doc_(nlohmann::json::parse(read_file(file))) {}

  // Every documented operation, "METHOD /template".
  std::set<std::string> operations() const {
    std::set<std::string> out;
    for (auto p = doc_["paths"].begin(); p != doc_["paths"].end(); ++p)
      for (auto m = p.value().begin(); m != p.value().end(); ++m)
        if (m.key() != "parameters") out.insert(upper(m.key()) + " " + p.key());
    return out;
  }
  const std::set<std::string>& exercised() const { return exercised_; }

  // "" if the answer is as documented, else what is wrong.
  std::string check(const std::string& method, const std::string& path, int status, const std::string& body) {
    std::string raw = path.substr(0, path.find('?'));
    const std::string tmpl = template_for(raw);
    if (tmpl.empty()) return "no documented path matches " + raw;
    const nlohmann::json& item = doc_["paths"][tmpl];
    std::string m = method;
    for (char& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!item.contains(m)) return method + " " + tmpl + " is not documented";
    exercised_.insert(method + " " + tmpl);
    const nlohmann::json& responses = item[m]["responses"];
    const std::string code = std::to_string(status);
    if (!responses.contains(code)) return method + " " + tmpl + " answered " + code + ", which is not documented";
    const nlohmann::json& response = resolve(responses[code]);
    if (!response.contains("content")) return body.empty() ? "" : "a body where none is documented";
    if (!response["content"].contains("application/json")) return "";
    const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_discarded()) return "the body is not JSON: " + body.substr(0, 200);
    std::string why;
    if (!matches(parsed, response["content"]["application/json"]["schema"], "$", &why))
      return method + " " + tmpl + " " + code + ": " + why;
    return "";
  }

  // Checks a value against a named schema (components/schemas/NAME).
  std::string check_schema(const nlohmann::json& value, const std::string& name) const {
    std::string why;
    return matches(value, doc_["components"]["schemas"][name], "$", &why) ? "" : why;
  }

 private:
  static std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }
  static std::vector<std::string> segments(const std::string& p) {
    std::vector<std::string> out;
    std::stringstream ss(p);
    for (std::string s; std::getline(ss, s, '/');) out.push_back(s);
    return out;
  }
  std::string template_for(const std::string& path) const {
    const auto want = segments(path);
    for (auto p = doc_["paths"].begin(); p != doc_["paths"].end(); ++p) {
      const auto have = segments(p.key());
      if (have.size() != want.size()) continue;
      bool ok = true;
      for (size_t i = 0; ok && i < have.size(); ++i)
        ok = (have[i].size() > 1 && have[i].front() == '{' && !want[i].empty()) || have[i] == want[i];
      if (ok) return p.key();
    }
    return "";
  }
  const nlohmann::json& resolve(const nlohmann::json& node) const {
    if (!node.contains("$ref")) return node;
    const std::string ref = node["$ref"];  // "#/components/<kind>/<name>"
    const auto parts = segments(ref.substr(2));
    return resolve(doc_[parts[0]][parts[1]][parts[2]]);
  }
  bool matches(const nlohmann::json& v, const nlohmann::json& schema_node, const std::string& at,
               std::string* why) const {
    const nlohmann::json& s = resolve(schema_node);
    auto no = [&](const std::string& what) {
      *why = at + ": " + what + " (value " + v.dump().substr(0, 120) + ")";
      return false;
    };
    if (v.is_null()) return s.value("nullable", false) ? true : no("null is not allowed");
    const std::string type = s.value("type", "");
    if (type == "object" && !v.is_object()) return no("expected an object");
    if (type == "array" && !v.is_array()) return no("expected an array");
    if (type == "string" && !v.is_string()) return no("expected a string");
    if (type == "integer" && !v.is_number_integer()) return no("expected an integer");
    if (type == "number" && !v.is_number()) return no("expected a number");
    if (type == "boolean" && !v.is_boolean()) return no("expected a boolean");
    if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end())
      return no("not one of " + s["enum"].dump());
    if (s.contains("pattern") && !std::regex_search(v.get<std::string>(), std::regex(s["pattern"].get<std::string>())))
      return no("does not match " + s["pattern"].get<std::string>());
    if (s.contains("minimum") && v.is_number() && v.get<double>() < s["minimum"].get<double>()) return no("below the minimum");
    if (s.contains("maximum") && v.is_number() && v.get<double>() > s["maximum"].get<double>()) return no("above the maximum");
    if (v.is_object()) {
      for (const auto& r : s.value("required", nlohmann::json::array()))
        if (!v.contains(r.get<std::string>())) return no("missing required " + r.get<std::string>());
      const nlohmann::json props = s.value("properties", nlohmann::json::object());
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!props.contains(it.key())) {
          if (s.contains("additionalProperties") && s["additionalProperties"] == false)
            return no("undocumented field " + it.key());
          continue;
        }
        if (!matches(it.value(), props[it.key()], at + "." + it.key(), why)) return false;
      }
    }
    if (v.is_array() && s.contains("items"))
      for (size_t i = 0; i < v.size(); ++i)
        if (!matches(v[i], s["items"], at + "[" + std::to_string(i) + "]", why)) return false;
    return true;
  }

  nlohmann::json doc_;
  std::set<std::string> exercised_;
};

}  // namespace xferq::testing

#endif  // XFERQ_TESTS_OPENAPI_CHECK_H_
