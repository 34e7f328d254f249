// libmesh_examples.so: one plugin file exporting several modules. Module names must be unique
// across every plugin a host loads; capabilities group modules for routing (PlayerActor shares
// `chat` with the rooms that deliver to it, so any host serving rooms serves their members).
#include <mesh/sdk.hpp>

#include "chat_actor.hpp"
#include "game_actor.hpp"
#include "payment_actor.hpp"
#include "player_actor.hpp"

MESH_PLUGIN("mesh-examples", "1.0.0",
            mesh::sdk::module<mesh::examples::game_actor>("GameActor", "game"),
            mesh::sdk::module<mesh::examples::chat_actor>("ChatActor", "chat"),
            mesh::sdk::module<mesh::examples::player_actor>("PlayerActor", "chat"),
            mesh::sdk::module<mesh::examples::payment_actor>("PaymentActor", "payment"))
