// The model families the engine knows. Adding one: write its header (the contract: model_api.h; the
// steps and the tests: docs/ADDING_A_MODEL.md) and list it here; nothing else in the engine changes.
#pragma once

#include "kernels/cooccurrence.h"
#include "kernels/joma.h"
#include "kernels/pathcond.h"
#include "kernels/scan_snap.h"
#include "kernels/value_softmax.h"

#define FLOWSWEEP_MODELS(X) \
  X(::fs::Cooccurrence) X(::fs::ScanSnap) X(::fs::JomaToy) X(::fs::Joma) X(::fs::ValueSoftmax) X(::fs::PathCond)
