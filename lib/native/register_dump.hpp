// lib/native/register_dump.hpp - panic's register dump on the real CPU. Freestanding only.
#pragma once

namespace hv {

// Captures the calling CPU's general and control registers and logs them (a Panic_hooks entry).
void log_native_registers();

} // namespace hv
