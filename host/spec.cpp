#include "host/spec.h"

#include <toml++/toml.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include "host/grid.h"
#include "host/util.h"

namespace fs {

namespace {

const char* const kSections[] = {"params", "train", "detect"};

void check_spec_text(const std::string& text, const std::string& path);

constexpr long kAfterFile = 1L << 40;  // beyond any line of a spec file

struct Resolver {
  std::string path;
  std::map<std::string, std::string> override_of;  // "section.key" -> the --set text that set it
  // An axis's place in the grid where --set gave it: an axis of the file keeps its line, a new one comes
  // after the file's, in the order of the --set options.
  std::map<std::string, long> axis_place;

  std::string where(const toml::node* node, const std::string& dotted) const {
    auto it = override_of.find(dotted);
    if (it != override_of.end()) return "--set " + it->second;
    std::ostringstream os;
    os << path;
    if (node && node->source().begin.line > 0) os << ":" << node->source().begin.line;
    return os.str();
  }
  [[noreturn]] void fail(const toml::node* node, const std::string& dotted, const std::string& msg) const {
    throw InputError(where(node, dotted) + ": key " + quote_cut(dotted) + ": " + msg);
  }
};

std::string join(const std::vector<std::string>& xs) {
  std::string s;
  for (const auto& x : xs) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::vector<std::string> names_of(const std::vector<ParamDef>& defs) {
  std::vector<std::string> out;
  for (const auto& d : defs) out.push_back(d.name);
  return out;
}

const ParamDef* find_def(const std::vector<ParamDef>& defs, const std::string& name) {
  for (const auto& d : defs)
    if (d.name == name) return &d;
  return nullptr;
}

const std::vector<std::string> kTopLevel = {"model",  "name",  "description", "seed",
                                            "params", "train", "detect",      "grid"};

// " (did you mean 'x'?)" where `typed` is a typo of a name of `known`, else "".
std::string did_you_mean(const std::string& typed, const std::vector<std::string>& known) {
  const std::string n = nearest_name(typed, known);
  return n.empty() ? "" : " (did you mean " + quote_cut(n) + "?)";
}

using SectionDefs = std::map<std::string, const std::vector<ParamDef>*>;

// For a key that `here` (a section, or "" for the top level) does not have, among `here_names`: the
// section that has it, else the name it most likely misspells here, else one in another section.
std::string misplaced_or_misspelt(const std::string& key, const std::string& here,
                                  const std::vector<std::string>& here_names, const SectionDefs& defs) {
  for (const char* other : kSections)
    if (other != here && find_def(*defs.at(other), key)) return " (it is a key of [" + std::string(other) + "])";
  if (std::string hint = did_you_mean(key, here_names); !hint.empty()) return hint;
  for (const char* other : kSections)
    if (other != here)
      if (const std::string n = nearest_name(key, names_of(*defs.at(other))); !n.empty())
        return " (did you mean " + quote_cut(n) + ", a key of [" + other + "]?)";
  return "";
}

// Every key of the sections, then `more`.
std::vector<std::string> all_keys(const std::vector<ParamDef>& model_defs, const std::vector<ParamDef>& detect_defs,
                                  std::vector<std::string> more) {
  for (const auto* list : {&model_defs, &train_params(), &detect_defs})
    for (const auto& d : *list) more.push_back(d.name);
  return more;
}

std::string describe_number(double x) { return format_double(x); }

Value check_number(const Resolver& R, const toml::node* node, const std::string& dotted, const ParamDef& def, double x);

// Checks one value against its declaration; returns the typed value.
Value convert(const Resolver& R, const toml::node& node, const std::string& dotted, const ParamDef& def) {
  if (def.kind == ParamDef::kNames) {  // stored comma-separated, in the order given
    const auto* arr = node.as_array();
    if (!arr) R.fail(&node, dotted, "expected a list of names from: " + join(def.choices));
    std::vector<std::string> seen;
    for (const auto& e : *arr) {
      auto s = e.value<std::string>();
      if (!e.is_string() || !s) R.fail(&e, dotted, "expected a list of names from: " + join(def.choices));
      if (std::find(def.choices.begin(), def.choices.end(), *s) == def.choices.end())
        R.fail(&e, dotted, quote_cut(*s) + " is not one of: " + join(def.choices));
      if (std::find(seen.begin(), seen.end(), *s) != seen.end()) R.fail(&e, dotted, quote_cut(*s) + " is named twice");
      seen.push_back(*s);
    }
    std::string joined;
    for (const auto& x : seen) joined += (joined.empty() ? "" : ",") + x;
    return Value::text(joined);
  }
  if (def.kind == ParamDef::kChoice) {
    auto s = node.value<std::string>();
    if (!node.is_string() || !s) R.fail(&node, dotted, "expected one of: " + join(def.choices));
    if (std::find(def.choices.begin(), def.choices.end(), *s) == def.choices.end())
      R.fail(&node, dotted, quote_cut(*s) + " is not one of: " + join(def.choices));
    return Value::text(*s);
  }
  double x = 0;
  if (node.is_integer())
    x = double(*node.value<int64_t>());
  else if (node.is_floating_point())
    x = *node.value<double>();
  else
    R.fail(&node, dotted, def.kind == ParamDef::kInt ? "expected an integer" : "expected a number");
  return check_number(R, &node, dotted, def, x);
}

Value check_number(const Resolver& R, const toml::node* node, const std::string& dotted, const ParamDef& def,
                   double x) {
  if (!std::isfinite(x)) R.fail(node, dotted, "must be finite");
  if (def.kind == ParamDef::kInt && x != std::floor(x))
    R.fail(node, dotted, "expected an integer, got " + describe_number(x));
  if (x < def.lo || (def.lo_open && x == def.lo))
    R.fail(node, dotted,
           "value " + describe_number(x) + (def.lo_open ? " must be greater than " : " is below the minimum ") +
               describe_number(def.lo));
  if (x > def.hi)
    R.fail(node, dotted, "value " + describe_number(x) + " is above the maximum " + describe_number(def.hi));
  return Value::number(x);
}

// A computed grid value within a few ulps of a decimal of at most 12 significant digits is that decimal:
// the rounding of log10, pow or a product is noise in the last bits, and a sweep's tables, run ids and
// --where filters should see the 0.03 or 8 the spacing means, not 0.030000000000000013 or 7.999999999999999.
double snap_to_short_decimal(double x) {
  if (x == 0 || !std::isfinite(x)) return x;
  const double tol = 4 * (std::nextafter(std::fabs(x), HUGE_VAL) - std::fabs(x));
  char buf[32];
  for (int digits = 1; digits <= 12; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*e", digits - 1, x);
    const double y = std::strtod(buf, nullptr);
    if (std::fabs(y - x) <= tol) return y;
  }
  return x;
}

// Expands one grid entry: a list, or a table with range | linspace | geomspace.
std::vector<std::pair<const toml::node*, double>> numeric_triple(const Resolver& R, const toml::array& arr,
                                                                 const std::string& dotted, const char* kind,
                                                                 size_t min_len, size_t max_len) {
  if (arr.size() < min_len || arr.size() > max_len)
    R.fail(&arr, dotted,
           std::string(kind) + " takes " + std::to_string(min_len) +
               (min_len == max_len ? "" : " or " + std::to_string(max_len)) + " numbers");
  std::vector<std::pair<const toml::node*, double>> out;
  for (const auto& e : arr) {
    if (e.is_integer())
      out.push_back({&e, double(*e.value<int64_t>())});
    else if (e.is_floating_point())
      out.push_back({&e, *e.value<double>()});
    else
      R.fail(&e, dotted, std::string(kind) + " takes numbers");
  }
  return out;
}

Axis expand_axis(const Resolver& R, const toml::node& node, const std::string& name, const std::string& section,
                 const ParamDef& def) {
  const std::string dotted = "grid." + name;
  Axis ax;
  ax.name = name;
  ax.section = section;
  if (def.kind == ParamDef::kNames) R.fail(&node, dotted, "a list of names is set in its section, not swept");
  if (auto arr = node.as_array()) {
    ax.kind = "list";
    if (arr->empty()) R.fail(&node, dotted, "an axis needs at least one value");
    for (const auto& e : *arr) ax.values.push_back(convert(R, e, dotted, def));
  } else if (auto tbl = node.as_table()) {
    if (tbl->size() != 1) R.fail(&node, dotted, "an axis table has exactly one of: range, linspace, geomspace");
    auto first = tbl->begin();
    const toml::node& v = first->second;
    const std::string kind(first->first.str());
    ax.kind = kind;
    const auto* arr2 = v.as_array();
    if (!arr2) R.fail(&v, dotted, kind + " takes an array of numbers");
    if (def.kind == ParamDef::kChoice) R.fail(&v, dotted, "a choice is swept with a list");
    auto make = [&](double x) { return check_number(R, &v, dotted, def, x); };
    if (kind == "range") {
      auto t = numeric_triple(R, *arr2, dotted, "range", 2, 3);
      for (auto& e : t)
        if (e.second != std::floor(e.second)) R.fail(e.first, dotted, "range takes integers [start, stop, step]");
      const double a = t[0].second, b = t[1].second, st = t.size() == 3 ? t[2].second : 1.0;
      if (st <= 0) R.fail(&v, dotted, "range step must be positive");
      // Counted in floating point before anything is built: an axis longer than a sweep can hold, or one
      // whose ends do not fit a 64-bit integer, is refused here rather than grown or overflowed.
      const double count = b > a ? std::ceil((b - a) / st) : 0.0;
      if (count > double(kMaxGridRuns))
        R.fail(&v, dotted,
               "range gives " + format_double(count) + " values, more than the " + std::to_string(kMaxGridRuns) +
                   " runs a sweep can hold");
      if (std::fabs(a) > 9.0e15 || std::fabs(b) > 9.0e15)
        R.fail(&v, dotted, "range ends must lie within +-9e15 (integers exact in a double)");
      // The values a + k st are integers and increase, so only the ends can break the key's bounds: the first
      // value that does is found and checked, and named as it would be in a list.
      const long n = long(count);
      auto passes = [&](long k) {
        try {
          (void)check_number(R, &v, dotted, def, a + double(k) * st);
          return true;
        } catch (const InputError&) {
          return false;
        }
      };
      if (n > 0) {
        make(a);
        if (!passes(n - 1)) {
          long k = n - 1;  // the first value above the bounds: the first passed, so it lies after it
          for (long lo = 0; lo + 1 < k;) {
            const long mid = lo + (k - lo) / 2;
            (passes(mid) ? lo : k) = mid;
          }
          make(a + double(k) * st);
        }
      }
      ax.values.set_range(a, st, n);
    } else if (kind == "linspace" || kind == "geomspace") {
      auto t = numeric_triple(R, *arr2, dotted, kind.c_str(), 3, 3);
      const double a = t[0].second, b = t[1].second, cnt = t[2].second;
      if (cnt < 1 || cnt != std::floor(cnt)) R.fail(t[2].first, dotted, kind + " count must be a positive integer");
      if (cnt > double(kMaxGridRuns))
        R.fail(t[2].first, dotted,
               kind + " count " + format_double(cnt) + " is more than the " + std::to_string(kMaxGridRuns) +
                   " runs a sweep can hold");
      if (kind == "geomspace" && (a <= 0 || b <= 0)) R.fail(&v, dotted, "geomspace endpoints must be positive");
      const long nv = long(cnt);
      // geomspace steps in decades, so a decade grid lands on powers of ten before any snapping; both ends
      // are the numbers written.
      const double la = std::log10(a), lb = std::log10(b);
      for (long i = 0; i < nv; ++i) {
        const double f = nv == 1 ? 0.0 : double(i) / double(nv - 1);
        double x = snap_to_short_decimal(kind == "linspace" ? a + (b - a) * f : std::pow(10.0, la + (lb - la) * f));
        if (i == 0) x = a;
        if (i == nv - 1 && nv > 1) x = b;
        if (def.kind == ParamDef::kInt && std::fabs(x - std::round(x)) > 1e-9 * std::fmax(1.0, std::fabs(x)))
          R.fail(&v, dotted, kind + " gives non-integer " + describe_number(x) + " for an integer key");
        ax.values.push_back(make(def.kind == ParamDef::kInt ? std::round(x) : x));
      }
    } else {
      R.fail(&v, dotted, "unknown axis form '" + kind + "'; use a list, range, linspace or geomspace");
    }
    if (ax.values.empty()) R.fail(&v, dotted, "the axis has no values");
  } else {
    R.fail(&node, dotted, "an axis is a list or a table {range|linspace|geomspace = [...]}");
  }
  // A value given twice would run each of its runs twice under one run id and count them twice in the
  // phase diagram. (A range's values increase: distinct by construction.)
  std::map<std::string, size_t> seen;
  for (size_t i = 0; ax.kind != "range" && i < ax.values.size(); ++i) {
    const auto [it, fresh] = seen.emplace(ax.values[i].to_string(), i);
    if (!fresh)
      R.fail(&node, dotted,
             "value " + quote_cut(it->first) + " appears twice (positions " + std::to_string(it->second + 1) + " and " +
                 std::to_string(i + 1) + "); each value of an axis must be distinct");
  }
  return ax;
}

// KEY=VALUE -> (section path, value node) inserted into the document.
void apply_override(toml::table& doc, const std::string& text, Resolver& R, const Spec& partial_info,
                    const std::vector<ParamDef>& model_defs, const std::vector<ParamDef>& detect_defs) {
  (void)partial_info;
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) throw InputError("--set " + quote_cut(text) + ": expected KEY=VALUE");
  std::string key = text.substr(0, eq), value = text.substr(eq + 1);
  toml::table parsed;
  try {
    check_spec_text("v = " + value, "--set");
    parsed = toml::parse("v = " + value);
  } catch (const std::exception&) {      // InputError or toml::parse_error
    parsed = toml::table{{"v", value}};  // bare words are strings: --set init=theory
  }
  toml::node& v = *parsed.get("v");
  std::string section, name;
  const auto dot = key.find('.');
  if (dot != std::string::npos) {
    section = key.substr(0, dot);
    name = key.substr(dot + 1);
    if (section != "grid" && std::find(std::begin(kSections), std::end(kSections), section) == std::end(kSections))
      throw InputError("--set " + quote_cut(text) + ": section " + quote_cut(section) +
                       did_you_mean(section, {"params", "train", "detect", "grid"}) +
                       " is not one of: params, train, detect, grid");
    if (name.empty() || name.find('.') != std::string::npos)
      throw InputError("--set " + quote_cut(text) + ": expected section.key with one dot");
  } else if (key == "seed" || key == "name" || key == "model" || key == "description") {
    section = "";
    name = key;
  } else {
    name = key;
    if (find_def(model_defs, key))
      section = "params";
    else if (find_def(train_params(), key))
      section = "train";
    else if (find_def(detect_defs, key))
      section = "detect";
    else
      throw InputError("--set " + quote_cut(text) + ": key " + quote_cut(key) + ": unknown key" +
                       did_you_mean(key, all_keys(model_defs, detect_defs, {"seed", "name", "description", "model"})));
    // A fixed value given on the command line replaces an axis over the same key.
    if (auto grid = doc["grid"].as_table()) grid->erase(key);
  }
  if (section == "grid") {  // an axis given on the command line replaces a fixed value of the same key
    for (const char* sec : kSections)
      if (auto t = doc[sec].as_table()) t->erase(name);
    if (!R.axis_place.count(name)) {
      const auto* grid = doc["grid"].as_table();
      const toml::node* in_file = grid ? grid->get(name) : nullptr;
      R.axis_place[name] = in_file ? long(in_file->source().begin.line) : kAfterFile + long(R.axis_place.size());
    }
  }
  toml::table* target = &doc;
  if (!section.empty()) {
    if (!doc.contains(section)) doc.insert(section, toml::table{});
    target = doc[section].as_table();
    if (!target) throw InputError("--set " + quote_cut(text) + ": " + quote_cut(section) + " is not a section");
  }
  target->insert_or_assign(name, v);
  R.override_of[(section.empty() ? "" : section + ".") + name] = text;
}

}  // namespace

Spec load_spec(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) throw InputError(path + ": cannot open the spec file (no such file)");
  if (std::filesystem::is_directory(st)) throw InputError(path + ": is a directory; expected a spec file (TOML)");
  // A FIFO or a device would block or never end.
  if (!std::filesystem::is_regular_file(st))
    throw InputError(path + ": not a regular file; expected a spec file (TOML)");
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxSpecBytes)
    throw InputError(path + ": " + std::to_string(size) + " bytes; a spec file has at most " +
                     std::to_string(kMaxSpecBytes) + " bytes");
  return parse_spec(read_file(path), path, overrides);
}

namespace {

// What toml++ 3.3.0 must not see. Its test for non-ASCII whitespace reaches an unreachable point (undefined
// behaviour) for every code point from U+00A1 to U+0499, and the parser asks it of characters outside
// strings, and of the character after a backslash in a multi-line basic string (its issue #190; fixed in
// later versions). TOML allows non-ASCII only in strings and comments, so this lexer refuses it anywhere
// else, and after such a backslash; it also checks that the text is UTF-8. Errors name line and column.
void check_spec_text(const std::string& text, const std::string& path) {
  if (text.size() > kMaxSpecBytes)
    throw InputError(path + ": " + std::to_string(text.size()) + " bytes; a spec has at most " +
                     std::to_string(kMaxSpecBytes) + " bytes");
  long line = 1;
  size_t line_start = 0;
  auto fail = [&](size_t at, const std::string& what) {
    throw InputError(path + ":" + std::to_string(line) + ":" + std::to_string(at - line_start + 1) + ": " + what);
  };
  auto at = [&](size_t i) { return i < text.size() ? static_cast<unsigned char>(text[i]) : 0u; };
  auto starts = [&](size_t i, const char* s) { return text.compare(i, std::strlen(s), s) == 0; };
  auto ascii_space = [](unsigned c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  enum { kCode, kComment, kBasic, kLiteral, kMultiBasic, kMultiLiteral } state = kCode;
  for (size_t i = 0; i < text.size();) {
    const unsigned c = at(i);
    if (c >= 0x80) {  // one UTF-8 sequence
      if (state == kCode) fail(i, "a non-ASCII character outside a string or comment");
      const int len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
      if (len == 0 || i + size_t(len) > text.size()) fail(i, "invalid UTF-8; a spec is UTF-8 text");
      uint32_t cp = c & (0x7Fu >> len);
      for (int k = 1; k < len; ++k) {
        if ((at(i + size_t(k)) & 0xC0) != 0x80) fail(i, "invalid UTF-8; a spec is UTF-8 text");
        cp = (cp << 6) | (at(i + size_t(k)) & 0x3F);
      }
      if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        fail(i, "invalid UTF-8; a spec is UTF-8 text");
      i += size_t(len);
      continue;
    }
    if (c == '\n') {
      ++line, line_start = i + 1;
      if (state == kComment || state == kBasic || state == kLiteral) state = kCode;  // the parser says what is wrong
      ++i;
      continue;
    }
    switch (state) {
      case kCode:
        if (c == '#')
          state = kComment;
        else if (starts(i, "\"\"\""))
          state = kMultiBasic, i += 2;
        else if (starts(i, "'''"))
          state = kMultiLiteral, i += 2;
        else if (c == '"')
          state = kBasic;
        else if (c == '\'')
          state = kLiteral;
        break;
      case kComment:
        break;
      case kBasic:
        if (c == '\\' && at(i + 1) < 0x80)
          ++i;  // the escaped character (a non-ASCII one is read as one)
        else if (c == '"')
          state = kCode;
        break;
      case kLiteral:
        if (c == '\'') state = kCode;
        break;
      case kMultiBasic:
        if (c == '\\') {
          size_t j = i + 1;
          if (ascii_space(at(j))) {  // a line-ending backslash: what follows its whitespace
            while (ascii_space(at(j))) {
              if (at(j) == '\n') ++line, line_start = j + 1;
              ++j;
            }
            if (at(j) >= 0x80) fail(j, "a non-ASCII character after a line-ending backslash; put an ASCII one first");
            i = j;
            continue;
          }
          if (at(j) >= 0x80) fail(j, "a backslash before a non-ASCII character in a multi-line string");
          i = j + 1;
          continue;
        }
        if (starts(i, "\"\"\"")) {  // the end; up to two more quotes belong to the string
          i += 3;
          for (int q = 0; q < 2 && at(i) == '"'; ++q) ++i;
          state = kCode;
          continue;
        }
        break;
      case kMultiLiteral:
        if (starts(i, "'''")) {
          i += 3;
          for (int q = 0; q < 2 && at(i) == '\''; ++q) ++i;
          state = kCode;
          continue;
        }
        break;
    }
    ++i;
  }
}

Spec parse_spec_text(const std::string& text, const std::string& path, const std::vector<std::string>& overrides);

}  // namespace

Spec parse_spec(const std::string& text, const std::string& path, const std::vector<std::string>& overrides) {
  check_spec_text(text, path);
  // toml++ recurses once per level of a dotted key or header; a spec of kMaxSpecBytes nests at most half
  // as deep, which this stack holds (8 MiB does not).
  Spec spec;
  run_with_stack(size_t(512) << 20, [&] { spec = parse_spec_text(text, path, overrides); });
  spec.parsed_hash = spec.hash();
  return spec;
}

namespace {

Spec parse_spec_text(const std::string& text, const std::string& path, const std::vector<std::string>& overrides) {
  Spec spec;
  spec.path = path;
  spec.text = text;
  spec.overrides = overrides;
  Resolver R;
  R.path = path;

  toml::table doc;
  try {
    doc = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << path << ":" << e.source().begin.line << ": " << e.description();
    throw InputError(os.str());
  }

  // The model decides which keys exist, so find it first (an override may name it).
  std::string model_name;
  for (const auto& o : overrides)
    if (o.rfind("model=", 0) == 0) model_name = o.substr(6);
  if (model_name.empty()) {
    const toml::node* mn = doc.get("model");
    if (!mn) throw InputError(path + ": key 'model': missing; one of the names `flowsweep models` lists");
    if (!mn->is_string()) R.fail(mn, "model", "expected a model name (a string)");
    model_name = *mn->value<std::string>();
  }
  spec.entry = find_model(model_name);
  if (!spec.entry) {
    std::vector<std::string> known;
    for (const auto& m : models()) known.push_back(m.info.name);
    R.fail(doc.get("model"), "model",
           "unknown model " + quote_cut(model_name) + did_you_mean(model_name, known) + "; known: " + join(known));
  }
  spec.model = model_name;
  const ModelInfo& info = spec.entry->info;

  for (const auto& o : overrides) apply_override(doc, o, R, spec, info.params, info.detect_params);

  const SectionDefs defs = {{"params", &info.params}, {"train", &train_params()}, {"detect", &info.detect_params}};

  // Top level.
  for (const auto& [k, v] : doc) {
    const std::string key(k.str());
    if (key == "model") continue;
    if (key == "name" || key == "description") {
      if (!v.is_string()) R.fail(&v, key, "expected a string");
      (key == "name" ? spec.name : spec.description) = *v.value<std::string>();
    } else if (key == "seed") {
      auto d = ParamDef::integer("seed", 0, 0, 4294967295L, "");
      spec.sweep_seed = uint32_t(convert(R, v, key, d).num);
    } else if (defs.count(key) || key == "grid") {
      if (!v.is_table()) R.fail(&v, key, "expected a section [" + key + "]");
    } else {
      R.fail(&v, key,
             "unknown key" + misplaced_or_misspelt(key, "", kTopLevel, defs) +
                 "; the top level has: model, name, description, seed, [params], [train], [detect], [grid]");
    }
  }

  // Defaults, then fixed values.
  for (const auto& [section, list] : defs)
    for (const auto& d : *list)
      spec.base.set(d.name, d.kind == ParamDef::kChoice || d.kind == ParamDef::kNames ? Value::text(d.def_choice)
                                                                                      : Value::number(d.def));
  spec.base.set("seed", Value::number(0));
  for (const char* section : kSections) {
    const auto* tbl = doc[section].as_table();
    if (!tbl) continue;
    const auto& list = *defs.at(section);
    for (const auto& [k, v] : *tbl) {
      const std::string key(k.str()), dotted = std::string(section) + "." + key;
      const ParamDef* d = find_def(list, key);
      if (!d)
        R.fail(&v, dotted,
               "unknown key" + misplaced_or_misspelt(key, section, names_of(list), defs) + "; [" +
                   std::string(section) + "] has: " + join(names_of(list)));
      spec.base.set(key, convert(R, v, dotted, *d));
      spec.where[key] = R.where(&v, dotted);
    }
  }

  // Axes, in the order the file gives them.
  if (const auto* grid = doc["grid"].as_table()) {
    std::vector<std::pair<const toml::node*, std::string>> entries;
    for (const auto& [k, v] : *grid) entries.push_back({&v, std::string(k.str())});
    auto place = [&](const std::pair<const toml::node*, std::string>& e) {
      const auto it = R.axis_place.find(e.second);
      return it != R.axis_place.end() ? it->second : long(e.first->source().begin.line);
    };
    std::stable_sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) { return place(a) < place(b); });
    for (const auto& [node, key] : entries) {
      const std::string dotted = "grid." + key;
      if (key == "seed") {
        spec.axes.push_back(expand_axis(R, *node, key, "seed", ParamDef::integer("seed", 0, 0, 4294967295L, "")));
        spec.where[key] = R.where(node, dotted);
        continue;
      }
      std::string section;
      const ParamDef* d = nullptr;
      for (const char* s : kSections)
        if ((d = find_def(*defs.at(s), key))) {
          section = s;
          break;
        }
      if (!d)
        R.fail(node, dotted,
               "unknown key" + did_you_mean(key, all_keys(info.params, info.detect_params, {"seed"})) +
                   "; an axis is `seed` or any key of [params], [train], [detect]");
      if (const auto* fixed = doc[section].as_table(); fixed && fixed->contains(key))
        R.fail(node, dotted, "also fixed in [" + section + "]; set it in one place");
      spec.axes.push_back(expand_axis(R, *node, key, section, *d));
      spec.where[key] = R.where(node, dotted);
    }
  }
  return spec;
}

}  // namespace

namespace {

// The resolved content piece by piece to sink(piece), which returns false to stop: canonical() joins the
// pieces and hash() hashes them as they come, so a seed range of 10^8 values is never one string.
template <typename Sink>
void canonical_pieces(const Spec& spec, const Sink& sink) {
  if (!sink("model=" + spec.model + "\nseed=" + std::to_string(spec.sweep_seed) + "\n")) return;
  for (const auto& [k, v] : spec.base.all()) {
    bool swept = false;
    for (const auto& a : spec.axes) swept |= a.name == k;
    if (!swept && !sink(k + "=" + v.to_string() + "\n")) return;
  }
  for (const auto& a : spec.axes) {
    if (!sink("axis " + a.name + "=")) return;
    for (const Value& v : a.values)
      if (!sink(v.to_string() + ",")) return;
    if (!sink("\n")) return;
  }
}

}  // namespace

std::string Spec::canonical(size_t max_bytes) const {
  std::string out;
  bool whole = true;
  canonical_pieces(*this, [&](const std::string& piece) {
    out += piece;
    return whole = out.size() <= max_bytes;
  });
  return whole ? out : std::string();
}

std::string Spec::hash() const {
  if (!parsed_hash.empty()) return parsed_hash;
  uint64_t h = fnv1a64("");
  canonical_pieces(*this, [&](const std::string& piece) { return h = fnv1a64(piece, h), true; });
  return hex64(h);
}

}  // namespace fs

namespace fs {

std::string Spec::section_of(const std::string& key) const {
  if (key == "seed") return "seed";
  for (const auto& d : entry->info.params)
    if (d.name == key) return "params";
  for (const auto& d : entry->info.detect_params)
    if (d.name == key) return "detect";
  return "train";
}

}  // namespace fs
