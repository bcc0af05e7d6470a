#include "harness/json_read.hpp"

#include <cstdlib>

namespace bncheck::json {

const Value* Value::get(const std::string& key) const {
  if (kind != Kind::object) return nullptr;
  const auto it = fields.find(key);
  return it == fields.end() ? nullptr : &it->second;
}

std::optional<std::string> Value::get_string(const std::string& key) const {
  const Value* v = get(key);
  if (!v || v->kind != Kind::string) return std::nullopt;
  return v->str;
}

namespace {

struct Parser {
  std::string_view s;
  size_t i = 0;
  std::string error;
  int depth = 0;

  bool fail(const std::string& why) {
    if (error.empty()) error = "at byte " + std::to_string(i) + ": " + why;
    return false;
  }
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool literal(std::string_view w) {
    if (s.substr(i, w.size()) != w) return fail("expected " + std::string(w));
    i += w.size();
    return true;
  }
  static void utf8(unsigned cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
      return;
    }
    if (cp < 0x800) {
      *out += static_cast<char>(0xC0 | (cp >> 6));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xE0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    } else {
      *out += static_cast<char>(0xF0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    }
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  bool hex4(unsigned* v) {
    if (i + 4 > s.size()) return fail("short \\u escape");
    *v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s[i++];
      *v <<= 4;
      if (c >= '0' && c <= '9')
        *v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        *v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        *v |= static_cast<unsigned>(c - 'A' + 10);
      else
        return fail("bad \\u escape");
    }
    return true;
  }
  bool string(std::string* out) {
    if (i >= s.size() || s[i] != '"') return fail("expected a string");
    ++i;
    while (i < s.size() && s[i] != '"') {
      const char c = s[i++];
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in a string");
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (i >= s.size()) return fail("unterminated escape");
      const char e = s[i++];
      switch (e) {
        case '"':
        case '\\':
        case '/': *out += e; break;
        case 'b': *out += '\b'; break;
        case 'f': *out += '\f'; break;
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case 'u': {
          unsigned cp;
          if (!hex4(&cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && s.substr(i, 2) == "\\u") {
            i += 2;
            unsigned lo;
            if (!hex4(&lo)) return false;
            if (lo < 0xDC00 || lo > 0xDFFF) return fail("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            return fail("unpaired surrogate");
          }
          utf8(cp, out);
          break;
        }
        default: return fail("bad escape");
      }
    }
    if (i >= s.size()) return fail("unterminated string");
    ++i;
    return true;
  }
  bool value(Value* v) {
    if (++depth > 200) return fail("nested too deeply");
    ws();
    if (i >= s.size()) return fail("unexpected end");
    const char c = s[i];
    bool ok = true;
    if (c == '{') {
      v->kind = Value::Kind::object;
      ++i;
      ws();
      if (i < s.size() && s[i] == '}')
        ++i;
      else
        while (ok) {
          ws();
          std::string k;
          if (!string(&k)) return false;
          ws();
          if (i >= s.size() || s[i] != ':') return fail("expected ':'");
          ++i;
          Value m;
          if (!value(&m)) return false;
          v->fields[k] = std::move(m);
          ws();
          if (i < s.size() && s[i] == ',') {
            ++i;
            continue;
          }
          if (i < s.size() && s[i] == '}') {
            ++i;
            break;
          }
          return fail("expected ',' or '}'");
        }
    } else if (c == '[') {
      v->kind = Value::Kind::array;
      ++i;
      ws();
      if (i < s.size() && s[i] == ']')
        ++i;
      else
        while (ok) {
          Value m;
          if (!value(&m)) return false;
          v->items.push_back(std::move(m));
          ws();
          if (i < s.size() && s[i] == ',') {
            ++i;
            continue;
          }
          if (i < s.size() && s[i] == ']') {
            ++i;
            break;
          }
          return fail("expected ',' or ']'");
        }
    } else if (c == '"') {
      v->kind = Value::Kind::string;
      ok = string(&v->str);
    } else if (c == 't') {
      v->kind = Value::Kind::boolean;
      v->b = true;
      ok = literal("true");
    } else if (c == 'f') {
      v->kind = Value::Kind::boolean;
      ok = literal("false");
    } else if (c == 'n') {
      ok = literal("null");
    } else {
      const size_t j = s.find_first_not_of("+-0123456789.eE", i);
      const std::string num(s.substr(i, j == std::string_view::npos ? s.npos : j - i));
      char* end = nullptr;
      v->kind = Value::Kind::number;
      v->num = std::strtod(num.c_str(), &end);
      if (num.empty() || *end) return fail("bad value");
      i += num.size();
    }
    --depth;
    return ok;
  }
};

}  // namespace

Result<Value> parse(std::string_view text) {
  Parser p;
  p.s = text;
  Value v;
  if (p.value(&v)) {
    p.ws();
    if (p.i == text.size()) return v;
    p.fail("trailing characters");
  }
  return Result<Value>::failure(p.error);
}

}  // namespace bncheck::json
