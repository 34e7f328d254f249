/* Mesh plugin ABI: the contract between the mesh host and an actor module.
 *
 * Only C types and MessagePack bytes cross this boundary. A plugin is a shared library that
 * exports two functions:
 *
 *   uint32_t mesh_plugin_abi_version(void);          -- checked first, before anything else
 *   const mesh_plugin_info* mesh_plugin_init(void);   -- called once, after the version check
 *
 * Versioning: a host accepts a plugin whose major version equals its own and whose minor version
 * is not newer than its own. Structs carry their size and only ever grow at the end; a host reads
 * a field only when `struct_size` says the plugin's struct has it.
 *
 * Ownership: every pointer the host passes is valid only for the duration of the call. Every
 * pointer the plugin returns from mesh_plugin_init (names, tables) must stay valid for as long as
 * the library is loaded; the host never unloads a library while any of its actors lives.
 *
 * Errors: entry points never throw (they are noexcept in C++). A handler reports failure through
 * its return status and writes a human-readable message with mesh_output.write.
 */
#ifndef MESH_PLUGIN_ABI_H
#define MESH_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MESH_ABI_VERSION_MAJOR 1
#define MESH_ABI_VERSION_MINOR 1
/** The packed version a plugin reports: major in the high 16 bits, minor in the low 16 bits. */
#define MESH_ABI_VERSION ((uint32_t)((MESH_ABI_VERSION_MAJOR << 16) | MESH_ABI_VERSION_MINOR))

#define MESH_PLUGIN_ABI_VERSION_SYMBOL "mesh_plugin_abi_version"
#define MESH_PLUGIN_INIT_SYMBOL "mesh_plugin_init"

/** A read-only byte range owned by the caller, valid for the duration of one call. */
typedef struct mesh_bytes {
  const uint8_t* data;
  size_t size;
} mesh_bytes;

/** Outcome of a handler. */
typedef enum mesh_status {
  /** Success: the output holds one MessagePack object (the reply). */
  MESH_STATUS_OK = 0,
  /** The actor failed: the output holds the error message; the host discards the activation
   *  and the next request for the same id gets a fresh actor. */
  MESH_STATUS_ACTOR_ERROR = 1,
  /** The request was rejected (bad payload, unknown action): the output holds the error message;
   *  the activation is kept. */
  MESH_STATUS_REJECTED = 2
} mesh_status;

/** Why an actor is being destroyed. */
typedef enum mesh_deactivation_reason {
  MESH_DEACTIVATE_IDLE = 0,      /**< idle for longer than the host's idle timeout */
  MESH_DEACTIVATE_SHUTDOWN = 1,  /**< the host is stopping */
  MESH_DEACTIVATE_REBALANCE = 2, /**< the actor's key moved to another host */
  MESH_DEACTIVATE_CRASHED = 3    /**< a handler failed; the hook is not run, state is dropped */
} mesh_deactivation_reason;

/** A host-owned, append-only output buffer. `write` copies the bytes and returns 0, or returns
 *  non-zero if the host refuses them (too large); the plugin then stops writing. */
typedef struct mesh_output {
  void* host_state;
  int (*write)(void* host_state, const uint8_t* data, size_t size);
} mesh_output;

/** What an actor learns when it is created. Valid only during `create`. */
typedef struct mesh_actor_context {
  size_t struct_size;
  /** The actor's id bytes (any bytes; usually UTF-8). */
  mesh_bytes id;
  /** The init_arg of the request that activated the actor, as one MessagePack object;
   *  size 0 when the request carried none. */
  mesh_bytes init_arg;
  /** NUL-terminated module and capability names of this actor. */
  const char* module;
  const char* capability;
  /** Host-unique number of this activation; a re-created actor gets a new one. */
  uint64_t activation;
} mesh_actor_context;

/** One actor module: a name (the `module` of a request), its capability and its handlers.
 *  All handlers of one actor are called from one thread at a time, never concurrently. */
typedef struct mesh_module {
  size_t struct_size;
  const char* name;
  const char* capability;
  /** Creates an actor. Returns an opaque pointer owned by the plugin until `destroy`, or NULL
   *  after writing an error message to `error`. */
  void* (*create)(const mesh_actor_context* context, mesh_output* error);
  /** Handles a call: `payload` is one MessagePack object; writes the reply (one MessagePack
   *  object) or an error message to `output`. */
  mesh_status (*call)(void* actor, mesh_bytes payload, mesh_output* output);
  /** Handles a cast (no reply is sent to the caller); on failure writes an error message. */
  mesh_status (*cast)(void* actor, mesh_bytes payload, mesh_output* output);
  /** Runs the deactivation hook (unless reason is MESH_DEACTIVATE_CRASHED) and frees the actor. */
  void (*destroy)(void* actor, mesh_deactivation_reason reason);
  /** Since ABI 1.1: MESH_MODULE_* bits (0 when the plugin's struct ends before this field). */
  uint32_t flags;
} mesh_module;

/** The size of a mesh_module from ABI 1.0 (without `flags`): the smallest a host accepts. */
#define MESH_MODULE_SIZE_1_0 (offsetof(mesh_module, destroy) + sizeof(void (*)(void)))

/** The module's handlers never block and return within microseconds (in-memory work only: no
 *  I/O, no sleeping, no locks held by other threads). The host may then run them on its request
 *  thread instead of handing each request to a worker thread and back, which saves two thread
 *  wake-ups per request. If such a module's handlers compute for more than 5 ms or sleep for more
 *  than 20 ms three times, the host logs a warning and runs the module on its workers from then
 *  on. */
#define MESH_MODULE_NONBLOCKING 1u

/** What mesh_plugin_init returns; owned by the plugin, valid while the library is loaded. */
typedef struct mesh_plugin_info {
  size_t struct_size;
  /** The ABI the plugin was built against (same as mesh_plugin_abi_version). */
  uint32_t abi_version;
  const char* plugin_name;
  const char* plugin_version;
  size_t module_count;
  const mesh_module* const* modules;
} mesh_plugin_info;

typedef uint32_t (*mesh_plugin_abi_version_fn)(void);
typedef const mesh_plugin_info* (*mesh_plugin_init_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* MESH_PLUGIN_ABI_H */
