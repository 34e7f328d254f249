// The fuzz targets: one function per decoder, each fed arbitrary bytes. Built two ways (see
// tests/fuzz/CMakeLists.txt): as libFuzzer executables (MESH_FUZZ=ON, clang) and, in every
// ordinary build, into fuzz_replay_test, which runs each committed corpus and crash input through
// the same functions. A target returns 0 for every input; when a property of the decoder does not
// hold it calls fail(), which in a libFuzzer build prints the property and aborts (so libFuzzer
// saves the input) and in the replay test throws property_violation, reported as a failed check
// naming the input file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace mesh::fuzz {

/// A property of a decoder that did not hold for some input.
struct property_violation : std::logic_error {
  using std::logic_error::logic_error;
};

/// Reports that `what` does not hold in target `target`. Never returns.
[[noreturn]] void fail(const char* target, const std::string& what);

/// Request envelopes (mesh::wire::decode_request, round trip through encode_request).
int request_envelope(const uint8_t* data, size_t size);
/// Reply envelopes (mesh::wire::decode_reply, round trip through encode_call_reply/ok/error).
int reply_envelope(const uint8_t* data, size_t size);
/// Host-to-host forward headers (decode_forward_header, round trip through its encoder).
int forward_header(const uint8_t* data, size_t size);
/// Gossip messages and the member records in them (decode_gossip, round trip).
int gossip_message(const uint8_t* data, size_t size);
/// Multicast discovery beacons, unsigned and signed (decode_beacon, round trip).
int discovery_beacon(const uint8_t* data, size_t size);
/// meshctl's MessagePack-to-JSON conversion (mesh::client::json_from_msgpack, round trip).
int client_json(const uint8_t* data, size_t size);

}  // namespace mesh::fuzz

/// Fails the enclosing target when `cond` is false.
#define MESH_FUZZ_CHECK(target, cond)                                              \
  do {                                                                             \
    if (!(cond)) ::mesh::fuzz::fail(target, "check failed: " #cond);               \
  } while (false)
