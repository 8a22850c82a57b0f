// core/config.cpp - the Config model's helpers and the text forms of its parts: diagnostics
// ("hv.cfg:7:10: ..."), CPU lists, expectations. Both builds. The parser is in
// core/config_parser.cpp.
#include "core/config.hpp"

namespace hv {

const Vm_config* Config::find_vm(std::string_view name) const {
  for (const Vm_config& vm : vm_list())
    if (vm.name == name) return &vm;
  return nullptr;
}

void Config::reset() {
  file_name.clear();
  globals = Config_globals{};
  for (Vm_config& vm : vms) vm = Vm_config{};
  vm_count = 0;
  for (Config_diagnostic& d : diagnostics) d = Config_diagnostic{};
  diagnostic_count = 0;
  diagnostics_dropped = 0;
}

void format_config_diagnostic(Text_writer& out, std::string_view file_name, const Config_diagnostic& d) {
  format_to(out, "{}:{}:{}: {}", file_name, d.line, d.column, d.message.view());
}

void format_config_diagnostic(Text_writer& out, const Config& config, const Config_diagnostic& d) {
  format_config_diagnostic(out, config.file_name.view(), d);
}

void format_cpu_list(Text_writer& out, u64 mask) {
  if (mask == cpu_affinity_any) {
    out.write("any");
    return;
  }
  if (mask == 0) {
    out.write("none");
    return;
  }
  bool first = true;
  u32 cpu = 0;
  while (cpu <= cpu_index_max) {
    if ((mask >> cpu & 1) == 0) {
      ++cpu;
      continue;
    }
    u32 last = cpu;
    while (last < cpu_index_max && (mask >> (last + 1) & 1) != 0) ++last;
    if (!first) out.put(',');
    first = false;
    if (last == cpu) format_to(out, "{}", cpu);
    else format_to(out, "{}-{}", cpu, last);
    cpu = last + 1;
  }
}

void format_vm_expectation(Text_writer& out, const Vm_expectation& expect) {
  switch (expect.kind) {
  case Expect_kind::none: out.write("none"); return;
  case Expect_kind::exit: format_to(out, "exit {}", expect.status); return;
  case Expect_kind::triple_fault: out.write("triple-fault"); return;
  case Expect_kind::stop: format_to(out, "stop {}", expect.reason.view()); return;
  }
  out.write("?");
}

const char* paging_mode_name(Paging_mode mode) {
  switch (mode) {
  case Paging_mode::ept: return "ept";
  case Paging_mode::shadow: return "shadow";
  }
  return "?";
}

const char* console_port_name(Console_port port) {
  switch (port) {
  case Console_port::com1: return "com1";
  }
  return "?";
}

} // namespace hv
