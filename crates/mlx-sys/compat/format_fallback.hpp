// A minimal std::format for toolchains without <format> (GCC < 13). mlx-c uses it only to build
// error messages with plain "{}" placeholders, so that is all this supports: each "{}" takes the
// next argument through operator<<.
#pragma once
#include <sstream>
#include <string>
#include <string_view>

namespace std {
inline void parallax_format_into(ostringstream& out, string_view fmt) {
  out << fmt;
}

template <class T, class... Rest>
void parallax_format_into(ostringstream& out, string_view fmt, const T& value, const Rest&... rest) {
  auto at = fmt.find("{}");
  if (at == string_view::npos) {
    out << fmt;
    return;
  }
  out << fmt.substr(0, at) << value;
  parallax_format_into(out, fmt.substr(at + 2), rest...);
}

template <class... Args>
string format(string_view fmt, const Args&... args) {
  ostringstream out;
  parallax_format_into(out, fmt, args...);
  return out.str();
}
}  // namespace std
