// The forward header that hosts put before a request they forward (host/cluster).
#include <doctest/doctest.h>

#include <cstdint>
#include <string_view>

#include "cluster/forward_header.hpp"

using namespace mesh::host;
using mesh::wire::buffer;

TEST_CASE("a forward header carries the incarnation it is meant for") {
  forward_header h;
  h.fseq = 9;
  h.from = "a";
  h.epoch = 3;
  h.hops = 1;
  h.to_incarnation = 1795748266515;
  buffer out;
  encode_forward_header(out, h);
  auto back = decode_forward_header(reinterpret_cast<const uint8_t*>(out.data()), out.size());
  REQUIRE(back.has_value());
  CHECK(back->to_incarnation == 1795748266515);
  CHECK(back->fseq == 9);
  CHECK(back->hops == 1);
  h.to_incarnation = 0;  // any run: not packed
  out.clear();
  encode_forward_header(out, h);
  back = decode_forward_header(reinterpret_cast<const uint8_t*>(out.data()), out.size());
  REQUIRE(back.has_value());
  CHECK(back->to_incarnation == 0);
  CHECK(std::string_view(out.data(), out.size()).find("inc") == std::string_view::npos);
}

