// The SDK's C++ layer: reading payloads and writing replies, as a plugin author uses them.
#include <doctest/doctest.h>
#include <mesh/sdk.hpp>

#include <nlohmann/json.hpp>

using json = nlohmann::json;
using mesh::sdk::rejected;
using mesh::sdk::value;

namespace {

struct decoded {
  msgpack::zone zone;
  msgpack::object obj;
  value v;
  explicit decoded(const json& j) : bytes(json::to_msgpack(j)) {
    v = mesh::sdk::detail::decode(mesh_bytes{bytes.data(), bytes.size()}, zone, obj);
  }
  std::vector<uint8_t> bytes;
};

json to_json(const mesh::sdk::writer& w) {
  return json::from_msgpack(w.data(), w.data() + w.size());
}

}  // namespace

TEST_CASE("missing keys read as nil and take the fallback") {
  decoded d(json{{"a", {{"b", 3}}}, {"s", "text"}});
  CHECK(d.v["a"]["b"].as_int() == 3);
  CHECK(d.v["a"]["zz"].as_int(42) == 42);
  CHECK(d.v["nope"]["deeper"].is_nil());
  CHECK(d.v["s"].as_string() == "text");
  CHECK(d.v["missing"].as_string("dflt") == "dflt");
  CHECK(d.v.contains("s"));
  CHECK_FALSE(d.v.contains("x"));
}

TEST_CASE("a present field of the wrong type is rejected, not crashed") {
  decoded d(json{{"n", "five"}, {"f", 1.5}, {"b", 1}});
  CHECK_THROWS_AS(d.v["n"].as_int(), rejected);
  CHECK_THROWS_AS(d.v["f"].as_int(), rejected);
  CHECK_THROWS_AS(d.v["b"].as_bool(), rejected);
  CHECK_THROWS_AS(d.v["b"].as_string(), rejected);
  CHECK(d.v["f"].as_double() == 1.5);
}

TEST_CASE("bytes that are not one MessagePack object are rejected") {
  msgpack::zone zone;
  msgpack::object obj;
  const uint8_t truncated[] = {0x82, 0xa1, 'a'};
  CHECK_THROWS_AS(mesh::sdk::detail::decode(mesh_bytes{truncated, 3}, zone, obj), rejected);
  const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff};  // would ask for 4G elements
  CHECK_THROWS_AS(mesh::sdk::detail::decode(mesh_bytes{huge, 5}, zone, obj), rejected);
  const uint8_t two[] = {0x01, 0x02};
  CHECK_THROWS_AS(mesh::sdk::detail::decode(mesh_bytes{two, 2}, zone, obj), rejected);
  CHECK(mesh::sdk::detail::decode(mesh_bytes{nullptr, 0}, zone, obj).is_nil());
}

TEST_CASE("map builders count their entries, nested ones too") {
  mesh::sdk::writer w;
  {
    auto m = w.map();
    m.kv("x", 1).kv("name", std::string("p1"));
    {
      auto pos = m.map("pos");
      pos.kv("lat", 1.5).kv("lon", -2);
    }
    m.key("list").value(std::vector<int>{1, 2, 3});
  }
  CHECK(to_json(w) == json{{"x", 1}, {"name", "p1"}, {"pos", {{"lat", 1.5}, {"lon", -2}}},
                           {"list", {1, 2, 3}}});
}

namespace {
struct plain {
  explicit plain(const mesh::sdk::context& ctx) : start(ctx.init_arg()["start"].as_int(0)) {}
  void call(const value& msg, mesh::sdk::writer& out) {
    if (msg["op"].as_string() == "boom") throw std::runtime_error("boom");
    out.map().kv("n", start + msg["by"].as_int(1));
  }
  int64_t start;
};

int write_into(void* state, const uint8_t* data, size_t size) {
  auto* out = static_cast<std::vector<uint8_t>*>(state);
  out->insert(out->end(), data, data + size);
  return 0;
}
}  // namespace

TEST_CASE("the module glue turns a plain class into the C ABI, exceptions into statuses") {
  const mesh_module m = mesh::sdk::module<plain>("Plain", "test");
  CHECK(std::string(m.name) == "Plain");
  std::vector<uint8_t> out;
  mesh_output o{&out, &write_into};
  const auto init = json::to_msgpack(json{{"start", 10}});
  mesh_actor_context ctx{sizeof ctx, {reinterpret_cast<const uint8_t*>("id"), 2},
                         {init.data(), init.size()}, "Plain", "test", 1};
  void* actor = m.create(&ctx, &o);
  REQUIRE(actor != nullptr);
  const auto p = json::to_msgpack(json{{"by", 5}});
  CHECK(m.call(actor, {p.data(), p.size()}, &o) == MESH_STATUS_OK);
  CHECK(json::from_msgpack(out) == json{{"n", 15}});
  out.clear();
  const auto bad = json::to_msgpack(json{{"by", "x"}});
  CHECK(m.call(actor, {bad.data(), bad.size()}, &o) == MESH_STATUS_REJECTED);
  CHECK(json::from_msgpack(out) == "expected an integer");
  out.clear();
  const auto boom = json::to_msgpack(json{{"op", "boom"}});
  CHECK(m.call(actor, {boom.data(), boom.size()}, &o) == MESH_STATUS_ACTOR_ERROR);
  CHECK(json::from_msgpack(out) == "boom");
  m.destroy(actor, MESH_DEACTIVATE_CRASHED);
}
