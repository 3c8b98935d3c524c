// A model's entry in the registry (its ModelInfo and the functions that check, start, cost and dump its
// runs), made in build part model_index % kBuildParts (host/model_entry_part.h, host/build_parts.h): an
// entry instantiates the model's whole flow for the CPU.
#pragma once

#include "host/registry.h"
#include "host/build_parts.h"

namespace fs {

// What every model takes besides its own detectors: the group shares, the detection schedule and the
// early stop.
void add_generic_detection(ModelInfo& mi);

// The entry of FLOWSWEEP_MODELS's model number `model`, which part K holds.
template <int K>
ModelEntry make_entry_in_part(int model);

}  // namespace fs
