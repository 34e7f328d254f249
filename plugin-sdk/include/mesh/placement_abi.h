/* Mesh placement ABI: the contract between the mesh host and a custom placement strategy.
 *
 * A placement strategy decides which host owns a shard of a capability. The host ships two
 * ("rendezvous", the default, and "modulo"); a shared library exporting the functions below is a
 * third kind, selected with a path to the .so. Only C types cross this boundary.
 *
 *   uint32_t mesh_placement_abi_version(void);  -- checked first, before anything else
 *   const char* mesh_placement_name(void);      -- a printable name without spaces, e.g. "zone"
 *   size_t mesh_placement_owner(uint32_t shard, uint32_t shards,
 *                               const char* const* hosts, size_t count);
 *
 * mesh_placement_owner returns the index into `hosts` of the host that owns `shard` (0 <= shard
 * < shards). `hosts` holds `count` >= 1 NUL-terminated UTF-8 names, sorted by byte value and
 * unique; the array and the strings are owned by the host and valid only during the call.
 *
 * The function must be deterministic and pure: every host computes placement on its own, so the
 * same (shard, shards, hosts) must give the same answer on every host, every time, with every
 * build of the plugin that the cluster runs. It may be called from several threads at once. It
 * must not throw (it is noexcept in C++).
 *
 * Validation by the host: at load, the host checks the version, then the name, then probes the
 * owner function with a few synthetic host lists and shards 0..63, twice; a plugin that returns
 * an index >= count or answers differently the second time is refused. At run time an index is
 * reduced modulo `count` defensively, never trusted.
 *
 * Versioning: as for actor plugins (mesh/plugin_abi.h), a host accepts a plugin whose major
 * version equals its own and whose minor version is not newer than its own. The placement ABI
 * is versioned independently of the actor plugin ABI.
 *
 * Lifetime: the name string must stay valid while the library is loaded. The host keeps the
 * library loaded for as long as the strategy object built from it lives.
 *
 * The strategy's gossiped name is "plugin:" followed by mesh_placement_name(); hosts whose
 * strategies have different names refuse each other, so every host of a cluster must load an
 * equivalent plugin.
 */
#ifndef MESH_PLACEMENT_ABI_H
#define MESH_PLACEMENT_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MESH_PLACEMENT_ABI_VERSION_MAJOR 1
#define MESH_PLACEMENT_ABI_VERSION_MINOR 0
/** The packed version a plugin reports: major in the high 16 bits, minor in the low 16 bits. */
#define MESH_PLACEMENT_ABI_VERSION \
  ((uint32_t)((MESH_PLACEMENT_ABI_VERSION_MAJOR << 16) | MESH_PLACEMENT_ABI_VERSION_MINOR))

#define MESH_PLACEMENT_ABI_VERSION_SYMBOL "mesh_placement_abi_version"
#define MESH_PLACEMENT_NAME_SYMBOL "mesh_placement_name"
#define MESH_PLACEMENT_OWNER_SYMBOL "mesh_placement_owner"

/** Marks the three entry points exported from a library built with hidden visibility. */
#ifndef MESH_PLACEMENT_EXPORT
#if defined(_WIN32)
#define MESH_PLACEMENT_EXPORT __declspec(dllexport)
#else
#define MESH_PLACEMENT_EXPORT __attribute__((visibility("default")))
#endif
#endif

typedef uint32_t (*mesh_placement_abi_version_fn)(void);
typedef const char* (*mesh_placement_name_fn)(void);
typedef size_t (*mesh_placement_owner_fn)(uint32_t shard, uint32_t shards, const char* const* hosts,
                                          size_t count);

#ifdef __cplusplus
}
#endif

#endif /* MESH_PLACEMENT_ABI_H */
