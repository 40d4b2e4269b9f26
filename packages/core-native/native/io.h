// Argument readers of the input entry points (io.cc), shared with the other readers of
// files into guarded memory (age_binding.cc).
#pragma once

#include <napi.h>

#include <string>

#include "reader.h"

namespace strongroom {

// A sink for (…, maxSize at max_index, backend and mlockPolicy at choice_index).
Sink SinkArgs(const Napi::CallbackInfo& info, size_t max_index, size_t choice_index, std::string source);

// A non-empty string without NUL (and, for a variable name, without '=').
std::string TextArg(const Napi::CallbackInfo& info, size_t index, const char* what, bool is_name);

}  // namespace strongroom
