// tests/unit/support/vcpu_fixture.hpp - a vCPU as the exit handlers see it, for hosted tests:
// a Fake_vmcs loaded with a fresh 64-bit guest (the controls hv asks for, computed against Bochs'
// capability MSRs, and the guest state the loader starts a test guest in), an I/O bus with the
// guest UART at 0x3F8 and the debug-exit port at 0xF4, the guest CPUID model and MSR allow-list
// built from the Bochs profile, and a capture of the log. Also exit-qualification builders and a
// small ELF64 writer. Hosted build only (tests).
#pragma once
#include "arch/x86/fake/fake_cpu.hpp"
#include "unit/support/fake_vmcs.hpp"
#include "arch/x86/vmcs_fields.hpp"
#include "core/elf64.hpp"
#include "lib/log.hpp"
#include "devices/debug_exit.hpp"
#include "devices/guest_uart.hpp"
#include "unit/support/cpu_profiles.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/exit_qualification.hpp"
#include "vmx/guest_cpuid.hpp"
#include "vmx/guest_msr.hpp"
#include "vmx/vmcs_setup.hpp"
#include <gtest/gtest.h>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace hv::test {

// Collects whole log lines; installed as the sink by Scoped_log_capture.
class Line_capture final : public Log_sink {
public:
  void write_line(std::string_view line) override { lines.emplace_back(line); }
  [[nodiscard]] bool contains(std::string_view needle) const {
    for (const std::string& l : lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
  std::vector<std::string> lines;
};

class Scoped_log_capture {
public:
  Scoped_log_capture() {
    log_set_sink(&capture);
    log_set_level(Log_level::info);
  }
  ~Scoped_log_capture() {
    log_set_sink(nullptr);
    log_set_level(Log_level::info);
  }
  Scoped_log_capture(const Scoped_log_capture&) = delete;
  Scoped_log_capture& operator=(const Scoped_log_capture&) = delete;
  Line_capture capture;
};

// --- Exit qualifications, encoded as SDM Vol. 3C tables 28-3 and 28-5 lay them out.
// size: 1, 2 or 4 bytes.
[[nodiscard]] constexpr u64 io_qualification(u16 port, u8 size, bool in, bool string = false, bool rep = false,
                                              bool immediate = false) {
  const u64 size_code = size == 1 ? 0 : size == 2 ? 1 : 3;
  return size_code | (u64{in} << 3) | (u64{string} << 4) | (u64{rep} << 5) | (u64{immediate} << 6) |
         (u64{port} << 16);
}
[[nodiscard]] constexpr u64 cr_qualification(u8 cr, Cr_access_type type, Gpr gpr = Gpr::rax, u16 lmsw_data = 0) {
  return u64{cr} | (static_cast<u64>(type) << 4) | (static_cast<u64>(gpr) << 8) | (u64{lmsw_data} << 16);
}

// SS access rights of a flat data segment with the given DPL (the CPL in 64-bit mode).
[[nodiscard]] constexpr u32 ss_ar_with_dpl(u32 dpl) { return (ar_data & ~0x60u) | (dpl << 5); }

inline constexpr u64 rflags_if = 1ull << 9;
inline constexpr u64 test_guest_entry = 0x100000;

// What the guest loader starts every test guest with (docs/guest-boot.md).
[[nodiscard]] inline Guest_start_state test_guest_start_state() {
  Guest_start_state s;
  s.rip = test_guest_entry;
  s.rsp = 0x80000;
  s.cr0 = cr0_bit::PE | cr0_bit::MP | cr0_bit::ET | cr0_bit::NE | cr0_bit::WP | cr0_bit::PG;
  s.cr3 = 0x3000;
  s.cr4 = cr4_bit::PAE;
  s.efer = msr::EFER_LME | msr::EFER_LMA | msr::EFER_NXE;
  s.gdtr_base = 0x1000;
  s.gdtr_limit = 39;
  return s;
}

// The per-vCPU controls hv would use on `profile` (asserts the request fits it).
[[nodiscard]] inline Vcpu_controls vcpu_controls_for(const Cpu_profile& profile) {
  const Vmx_controls_result r = compute_vmx_controls(hv_vmx_controls_request(), profile.msrs);
  EXPECT_TRUE(r.ok()) << profile.name;
  Vcpu_controls c;
  c.controls = r.value;
  c.eptp = 0x123456000ull | 6 | (3 << 3);  // WB, 4-level walk
  c.vpid = 1;
  const bool unrestricted = r.value.proc_based2 & proc_based_ctl2::UNRESTRICTED_GUEST;
  c.cr0_fixed = guest_cr0_fixed_bits(profile.msrs, unrestricted);
  c.cr4_fixed = cr4_fixed_bits(profile.msrs);
  return c;
}

// A vCPU of VM 1 ("vm1") right after the loader started it on Bochs.
class Vcpu_test : public ::testing::Test {
protected:
  Vcpu_test() : msrs(Guest_msr_config{}, 0) {
    Fake_cpu host;
    apply(host, profile);
    Guest_cpuid_config config;
    cpuid.build(host, config);

    controls = vcpu_controls_for(profile);
    write_controls(vmcs, controls);
    write_guest_state_64(vmcs, test_guest_start_state(), controls);
    msrs.refresh(msr::IA32_EFER, vmcs.read(vmcs::GUEST_IA32_EFER));

    uart.set_name("vm1");
    EXPECT_TRUE(bus.attach(guest_uart_base, 8, uart));
    EXPECT_TRUE(bus.attach(debug_exit_port, 1, debug_exit));

    vcpu.vm_id = 1;
    vcpu.vm_name = "vm1";
    vcpu.io = &bus;
    vcpu.cpuid = &cpuid;
    vcpu.msrs = &msrs;
    vcpu.cr0_fixed = controls.cr0_fixed;
    vcpu.cr4_fixed = controls.cr4_fixed;
  }

  // One VM exit as the CPU would report it, handled by dispatch_exit.
  Exit_action exit_with(u32 reason, u64 qualification = 0, u32 instruction_length = 2, u32 idt_vectoring_info = 0,
                        u32 idt_vectoring_error_code = 0) {
    vmcs.write(vmcs::VM_EXIT_REASON, reason);
    vmcs.write(vmcs::EXIT_QUALIFICATION, qualification);
    vmcs.write(vmcs::VM_EXIT_INSTRUCTION_LEN, instruction_length);
    vmcs.write(vmcs::IDT_VECTORING_INFO_FIELD, idt_vectoring_info);
    vmcs.write(vmcs::IDT_VECTORING_ERROR_CODE, idt_vectoring_error_code);
    return dispatch_exit(vcpu, vmcs);
  }

  [[nodiscard]] u64 field(u32 encoding) { return vmcs.read(encoding); }
  [[nodiscard]] u64 rip() { return vmcs.read(vmcs::GUEST_RIP); }
  void set_rflags(u64 value) { vmcs.write(vmcs::GUEST_RFLAGS, value); }
  void set_cpl(u32 cpl) { vmcs.write(vmcs::GUEST_SS_AR_BYTES, ss_ar_with_dpl(cpl)); }

  [[nodiscard]] bool gp_pending() const {
    return vcpu.pending_event && *vcpu.pending_event == hardware_exception(exception_vector::GP, 0);
  }
  [[nodiscard]] bool ud_pending() const {
    return vcpu.pending_event && *vcpu.pending_event == hardware_exception(exception_vector::UD);
  }

  Scoped_log_capture log;
  Cpu_profile profile = bochs_skylake_x();
  Vcpu_controls controls;
  Fake_vmcs vmcs;
  Io_bus bus;
  Guest_uart uart;
  Debug_exit debug_exit;
  Guest_cpuid cpuid;
  Guest_msrs msrs;
  Vcpu vcpu;
};

// --- A small ELF64 writer (ET_EXEC, EM_X86_64), enough for loader tests.
struct Elf_segment_spec {
  u64 paddr = 0;
  u64 vaddr = 0;              // 0: same as paddr
  std::vector<u8> data;       // p_filesz bytes
  u64 memory_size = 0;        // 0: data.size()
  u32 flags = elf_pf_r | elf_pf_x;
};

[[nodiscard]] inline std::vector<u8> make_elf64(u64 entry, const std::vector<Elf_segment_spec>& segments) {
  std::vector<u8> f(64 + 56 * segments.size(), 0);
  auto put = [&f](usize at, auto v) {
    if (f.size() < at + sizeof v) f.resize(at + sizeof v);
    std::memcpy(f.data() + at, &v, sizeof v);
  };
  const u8 ident[8] = {0x7F, 'E', 'L', 'F', 2 /*64-bit*/, 1 /*LSB*/, 1 /*EV_CURRENT*/, 0};
  std::memcpy(f.data(), ident, sizeof ident);
  put(16, u16{2});   // ET_EXEC
  put(18, u16{62});  // EM_X86_64
  put(20, u32{1});
  put(24, entry);
  put(32, u64{64});  // e_phoff
  put(52, u16{64});
  put(54, u16{56});
  put(56, static_cast<u16>(segments.size()));
  usize data_at = f.size();
  for (usize i = 0; i < segments.size(); ++i) {
    const Elf_segment_spec& s = segments[i];
    const u64 vaddr = s.vaddr ? s.vaddr : s.paddr;
    // File offset congruent to the address modulo 4 KiB, as linkers lay files out.
    data_at = (data_at + 0xFFF) / 0x1000 * 0x1000 + (vaddr & 0xFFF);
    const usize ph = 64 + 56 * i;
    put(ph + 0, u32{1});  // PT_LOAD
    put(ph + 4, s.flags);
    put(ph + 8, static_cast<u64>(data_at));
    put(ph + 16, vaddr);
    put(ph + 24, s.paddr);
    put(ph + 32, static_cast<u64>(s.data.size()));
    put(ph + 40, s.memory_size ? s.memory_size : static_cast<u64>(s.data.size()));
    put(ph + 48, u64{0x1000});
    if (f.size() < data_at + s.data.size()) f.resize(data_at + s.data.size());
    if (!s.data.empty()) std::memcpy(f.data() + data_at, s.data.data(), s.data.size());
    data_at += s.data.size();
  }
  return f;
}

} // namespace hv::test
