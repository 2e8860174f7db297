// Status codes returned by the core's hot paths (they never throw). The binding maps
// them to ChannelError codes; the numeric values are shared with lib/binding.js.
#pragma once

#include <cstdint>

namespace ringport {

enum class Status : int32_t {
  Ok = 0,
  Full = 1,             // no room now; try again after the consumer makes progress
  Empty = 2,            // nothing to receive now
  Closed = 3,           // this side was closed gracefully (sends) / the stream ended (receives)
  Errored = 4,          // the sender closed with an error; details in the error area
  Disconnected = 5,     // the peer's thread died or its endpoint was collected
  TooLarge = 6,         // larger than max_message_size (or than the ring, for a raw record)
  Corrupt = 7,          // the shared memory holds values that cannot be valid
  TimedOut = 8,
  InvalidArgument = 9,
  RoleTaken = 10,
  Lagged = 11,          // a broadcast receiver fell behind; messages were skipped
};

}  // namespace ringport
