// core/config_model.hpp - what \EFI\hv\hv.cfg says, as data: global settings with their
// defaults, up to config_max_vms VMs (each with a valid flag), and the diagnostics the parser
// found. Both builds. Fixed capacity, no heap; a Config is about 10 KiB, so keep it in static
// storage (`constinit Config`) rather than on a small stack. The format: docs/config.md; the
// parser and the message formatter: core/config.hpp.
#pragma once
#include "arch/x86/types.hpp"
#include "lib/log.hpp"
#include "mm/merge/merge_knobs.hpp"
#include <array>
#include <span>
#include <string_view>

namespace hv {

// Limits of the format (docs/config.md lists them; tests pin them).
inline constexpr usize config_max_vms = 16;
inline constexpr usize config_max_diagnostics = 32;
inline constexpr usize config_max_line_length = 255;      // characters, without CR/LF
inline constexpr usize config_max_file_size = 1024 * 1024; // bytes
inline constexpr usize config_max_message = 160;          // characters of one diagnostic
inline constexpr usize config_max_file_name = 63;
inline constexpr usize vm_name_max = 31;
inline constexpr usize vm_image_max = 63;
inline constexpr usize vm_args_max = 239;        // a kernel command line fits in one config line
inline constexpr usize vm_stop_reason_max = 31;
inline constexpr u32 vm_memory_mib_min = 2;
inline constexpr u32 vm_memory_mib_max = 65536;
inline constexpr u32 quantum_us_min = 100;
inline constexpr u32 quantum_us_max = 1'000'000;
inline constexpr u32 quantum_us_default = 10'000;
inline constexpr u32 cpu_index_max = 63;                   // CPUs 0..63 fit the affinity mask
inline constexpr u64 cpu_affinity_any = ~u64{0};

// A string of at most Max characters stored inline. Never writes past its end: assign() and
// push_back() report whether everything fitted.
template <usize Max>
class Config_string {
public:
  static constexpr usize max_size = Max;

  [[nodiscard]] constexpr std::string_view view() const { return {chars_.data(), size_}; }
  [[nodiscard]] constexpr usize size() const { return size_; }
  [[nodiscard]] constexpr bool empty() const { return size_ == 0; }
  constexpr void clear() { size_ = 0; }
  constexpr bool push_back(char c) {
    if (size_ == Max) return false;
    chars_[size_++] = c;
    return true;
  }
  // Keeps the first Max characters of s; false when s was longer.
  constexpr bool assign(std::string_view s) {
    clear();
    for (char c : s)
      if (!push_back(c)) return false;
    return true;
  }
  friend constexpr bool operator==(const Config_string& a, std::string_view b) { return a.view() == b; }

private:
  std::array<char, Max> chars_{};
  usize size_ = 0;
};

enum class Console_port : u8 { com1 };
enum class Paging_mode : u8 { ept, shadow };
// The shadow MMU's budget per VM (mm/shadow/shadow_mmu.hpp bounds it the same way).
inline constexpr u32 shadow_pages_default = 512;
inline constexpr u32 shadow_pages_min = 16;
inline constexpr u32 shadow_pages_max = 2048;
// What hv does once every VM has stopped: print the verdict and power off, or print it and stay
// (the monitor keeps answering on COM1).
enum class On_all_stopped : u8 { poweroff, stay };

// What a test expects of a VM; the hypervisor compares it with how the VM ended to count it
// as passed or failed. `none`: no expectation, the VM is not judged.
enum class Expect_kind : u8 { none, exit, triple_fault, stop };
struct Vm_expectation {
  Expect_kind kind = Expect_kind::none;
  u32 status = 0;                                // kind == exit: the debug-exit status
  Config_string<vm_stop_reason_max> reason;      // kind == stop: the stop reason word
};

struct Config_globals {
  Log_level log_level = Log_level::info;
  Console_port console = Console_port::com1;
  u32 quantum_us = quantum_us_default;           // scheduler time slice
  On_all_stopped on_all_stopped = On_all_stopped::poweroff;
  Merge_knobs ksm;                               // ksm_KNOB keys: the same-page merger's knobs
  bool auto_balloon = true;                      // lower balloon targets when host memory runs low (docs/balloon.md)
  bool shadow_paging = false;                    // every VM uses shadow paging (docs/shadow-paging.md)
  u32 shadow_pages = shadow_pages_default;       // shadow table pages per VM (the budget)
};

struct Vm_config {
  Config_string<vm_name_max> name;
  u32 memory_mib = 0;                            // a limit, populated on demand
  u32 memory_current_mib = 0;                    // start size (libvirt's currentMemory); 0: memory_mib
  Config_string<vm_image_max> image;             // file name in the guests folder of the ESP (image or kernel)
  bool boots_kernel = false;                     // `kernel =`: image is a bzImage (docs/guest-boot.md)
  Config_string<vm_image_max> initrd;            // with a kernel: its initrd (empty: none)
  u64 cpu_affinity = cpu_affinity_any;           // bit n set: may run on CPU n
  Paging_mode paging = Paging_mode::ept;
  Config_string<vm_args_max> args;               // handed to the guest as is (a kernel's command line)
  Vm_expectation expect;
  bool autostart = true;
  bool merge = true;                             // same-page merging of its memory (QEMU's mem-merge)
  bool valid = true;                             // false: do not start; see its diagnostics
  u32 line = 0;                                  // line of its [vm NAME] header
  u32 error_count = 0;                           // diagnostics about this VM (listed or dropped)
};

inline constexpr u32 config_global = ~u32{0};    // Config_diagnostic::vm of a file-wide problem

// One problem, at a 1-based line and column (columns count bytes; a tab is one column).
struct Config_diagnostic {
  u32 line = 0;
  u32 column = 0;
  u32 vm = config_global;                        // index into Config::vms, or config_global
  Config_string<config_max_message> message;     // "expected ..., got ..." without position
};

struct Config {
  Config_string<config_max_file_name> file_name; // as handed to parse_config, for messages
  Config_globals globals;
  std::array<Vm_config, config_max_vms> vms{};
  u32 vm_count = 0;
  std::array<Config_diagnostic, config_max_diagnostics> diagnostics{};
  u32 diagnostic_count = 0;                      // sorted by line, then column
  u32 diagnostics_dropped = 0;                   // found after the list was full

  [[nodiscard]] std::span<const Vm_config> vm_list() const { return {vms.data(), vm_count}; }
  [[nodiscard]] std::span<const Config_diagnostic> diagnostic_list() const {
    return {diagnostics.data(), diagnostic_count};
  }
  [[nodiscard]] u32 error_count() const { return diagnostic_count + diagnostics_dropped; }
  [[nodiscard]] const Vm_config* find_vm(std::string_view name) const;
  // Back to the state of a default-constructed Config, without a large temporary.
  void reset();
};

} // namespace hv
