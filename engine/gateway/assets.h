// assets: files embedded into the binary at build time (cmake/Embed.cmake), served as they are.
//
// Guarantees: each function returns the file's exact bytes, valid for the whole program; no
//   file is read at run time.
#pragma once

#include <string_view>

namespace flashsaga::embedded {

std::string_view openapi_json();  // docs/openapi.json
std::string_view sale_page();     // engine/gateway/sale_page.html

}  // namespace flashsaga::embedded
