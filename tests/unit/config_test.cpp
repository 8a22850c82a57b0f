// tests/unit/config_test.cpp - hv.cfg: good files into the model (full, minimal, CRLF,
// comments, whitespace, limits), and the text forms of the model's parts. Error paths are in
// config_errors_test.cpp, random input in config_fuzz_test.cpp.
#include "core/config.hpp"
#include "mm/balloon.hpp"
#include "unit/support/config_parse.hpp"
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <string>

namespace hv {
namespace {

using test::config_errors;
using test::parse_text;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr std::string_view full_file = R"(# hv.cfg for the memory tests
log_level = debug
console = com1
quantum_us = 5000

[vm hello]
memory = 64
image = hello.elf
cpus = 1
paging = ept
args = "oob-read"
expect = exit 0
autostart = yes

[vm bad-guest_2]
memory = 2
image = badguest.elf
cpus = 0,2-3
expect = stop ept-outside-slot
autostart = no

[vm faulty]
image = fault.elf
memory = 65536
expect = triple-fault
)";

TEST(ConfigParse, FullFileSetsEveryField) {
  const auto p = parse_text(full_file);
  ASSERT_TRUE(p.ok) << ::testing::PrintToString(p.messages);
  const Config& c = *p.config;
  EXPECT_EQ(c.globals.log_level, Log_level::debug);
  EXPECT_EQ(c.globals.console, Console_port::com1);
  EXPECT_EQ(c.globals.quantum_us, 5000u);
  ASSERT_EQ(c.vm_count, 3u);

  const Vm_config& hello = c.vms[0];
  EXPECT_EQ(hello.name.view(), "hello");
  EXPECT_EQ(hello.line, 6u);
  EXPECT_EQ(hello.memory_mib, 64u);
  EXPECT_EQ(hello.image.view(), "hello.elf");
  EXPECT_EQ(hello.cpu_affinity, 0b10u);
  EXPECT_EQ(hello.paging, Paging_mode::ept);
  EXPECT_EQ(hello.args.view(), "oob-read");
  EXPECT_EQ(hello.expect.kind, Expect_kind::exit);
  EXPECT_EQ(hello.expect.status, 0u);
  EXPECT_TRUE(hello.autostart);
  EXPECT_TRUE(hello.valid);
  EXPECT_EQ(hello.error_count, 0u);

  const Vm_config& bad = c.vms[1];
  EXPECT_EQ(bad.name.view(), "bad-guest_2");
  EXPECT_EQ(bad.line, 15u);
  EXPECT_EQ(bad.memory_mib, 2u);
  EXPECT_EQ(bad.cpu_affinity, 0b1101u);
  EXPECT_EQ(bad.expect.kind, Expect_kind::stop);
  EXPECT_EQ(bad.expect.reason.view(), "ept-outside-slot");
  EXPECT_FALSE(bad.autostart);
  EXPECT_TRUE(bad.valid);

  const Vm_config& faulty = c.vms[2];
  EXPECT_EQ(faulty.line, 22u);
  EXPECT_EQ(faulty.memory_mib, 65536u);
  EXPECT_EQ(faulty.expect.kind, Expect_kind::triple_fault);
  EXPECT_EQ(faulty.cpu_affinity, cpu_affinity_any);
}

TEST(ConfigParse, MinimalFileTakesEveryDefault) {
  const auto p = parse_text("[vm a]\nmemory = 2\nimage = a.elf\n");
  ASSERT_TRUE(p.ok) << ::testing::PrintToString(p.messages);
  const Config& c = *p.config;
  EXPECT_EQ(c.globals.log_level, Log_level::info);
  EXPECT_EQ(c.globals.console, Console_port::com1);
  EXPECT_EQ(c.globals.quantum_us, quantum_us_default);
  ASSERT_EQ(c.vm_count, 1u);
  const Vm_config& vm = c.vms[0];
  EXPECT_EQ(vm.line, 1u);
  EXPECT_EQ(vm.cpu_affinity, cpu_affinity_any);
  EXPECT_EQ(vm.paging, Paging_mode::ept);
  EXPECT_TRUE(vm.args.empty());
  EXPECT_EQ(vm.expect.kind, Expect_kind::none);
  EXPECT_TRUE(vm.autostart);
  EXPECT_TRUE(vm.valid);
  EXPECT_EQ(c.error_count(), 0u);
}

TEST(ConfigParse, GlobalsAloneAreAValidFileWithNoVms) {
  const auto p = parse_text("log_level = trace\n");
  EXPECT_TRUE(p.ok);
  EXPECT_EQ(p.config->vm_count, 0u);
  EXPECT_EQ(p.config->globals.log_level, Log_level::trace);
}

TEST(ConfigParse, CrlfFileGivesTheSameModelAsLf) {
  std::string crlf;
  for (char ch : full_file) {
    if (ch == '\n') crlf += '\r';
    crlf += ch;
  }
  const auto lf = parse_text(full_file);
  const auto dos = parse_text(crlf);
  ASSERT_TRUE(dos.ok) << ::testing::PrintToString(dos.messages);
  ASSERT_EQ(dos.config->vm_count, lf.config->vm_count);
  for (u32 i = 0; i < lf.config->vm_count; ++i) {
    EXPECT_EQ(dos.vm(i).name.view(), lf.vm(i).name.view());
    EXPECT_EQ(dos.vm(i).image.view(), lf.vm(i).image.view());
    EXPECT_EQ(dos.vm(i).args.view(), lf.vm(i).args.view());
    EXPECT_EQ(dos.vm(i).line, lf.vm(i).line);
    EXPECT_EQ(dos.vm(i).expect.reason.view(), lf.vm(i).expect.reason.view());
  }
  // Without a final newline, the last line's CR is a line ending too.
  EXPECT_TRUE(parse_text("[vm a]\r\nmemory = 2\r\nimage = a.elf\r").ok);
}

TEST(ConfigParse, CommentsMayStandEverywhere) {
  const auto p = parse_text(
      "# leading comment\n"
      "   # indented comment\n"
      "\t#\n"
      "log_level = warn# no space before the comment\n"
      "[vm c] # after a header\n"
      "memory = 8   # MiB\n"
      "image = c.elf#x\n"
      "args = \"a # inside quotes is text\"   # but this is a comment\n"
      "expect = exit 7 # status\n"
      "cpus = 0-1 # two\n"
      "# caf\xc3\xa9: UTF-8 in comments is fine\n");
  ASSERT_TRUE(p.ok) << ::testing::PrintToString(p.messages);
  EXPECT_EQ(p.config->globals.log_level, Log_level::warn);
  const Vm_config& vm = p.vm(0);
  EXPECT_EQ(vm.memory_mib, 8u);
  EXPECT_EQ(vm.image.view(), "c.elf");
  EXPECT_EQ(vm.args.view(), "a # inside quotes is text");
  EXPECT_EQ(vm.expect.status, 7u);
  EXPECT_EQ(vm.cpu_affinity, 0b11u);
}

TEST(ConfigParse, WhitespaceVariants) {
  const auto p = parse_text(
      "\n\n  \t \n"
      "log_level=error\n"
      "  quantum_us\t=\t20000   \n"
      "[ vm \t spaced ]  \n"
      "\tmemory=16\n"
      "  image =   s.elf\t\n"
      "cpus = 1 , 3 - 4 ,6\n"
      "expect =   stop \t hlt  \n"
      "[vm\ttabbed]\n"
      "memory=4\n"
      "image=t.elf");
  ASSERT_TRUE(p.ok) << ::testing::PrintToString(p.messages);
  EXPECT_EQ(p.config->globals.log_level, Log_level::error);
  EXPECT_EQ(p.config->globals.quantum_us, 20000u);
  ASSERT_EQ(p.config->vm_count, 2u);
  EXPECT_EQ(p.vm(0).name.view(), "spaced");
  EXPECT_EQ(p.vm(0).line, 6u);
  EXPECT_EQ(p.vm(0).memory_mib, 16u);
  EXPECT_EQ(p.vm(0).image.view(), "s.elf");
  EXPECT_EQ(p.vm(0).cpu_affinity, 0b1011010u);
  EXPECT_EQ(p.vm(0).expect.reason.view(), "hlt");
  EXPECT_EQ(p.vm(1).name.view(), "tabbed");
  EXPECT_EQ(p.vm(1).image.view(), "t.elf");
}

TEST(ConfigParse, Utf8ByteOrderMarkIsSkipped) {
  const auto p = parse_text("\xEF\xBB\xBF[vm a]\nmemory = 2\nimage = a.elf\n");
  ASSERT_TRUE(p.ok) << ::testing::PrintToString(p.messages);
  EXPECT_EQ(p.vm(0).name.view(), "a");
  // Columns on line 1 count from after the mark.
  EXPECT_THAT(config_errors("\xEF\xBB\xBFoops = 1\n"),
              ElementsAre("hv.cfg:1:1: unknown key \"oops\" (global keys: log_level, console, quantum_us, on_all_stopped, "
                          "auto_balloon, shadow_paging, shadow_pages, ksm_KNOB)"));
}

TEST(ConfigParse, QuotedValuesAndTheirEscapes) {
  const auto p = parse_text(R"([vm "q"]
memory = "32"
image = "q.elf"
args = "say \"hi\" \\ back"
expect = "exit 3"
autostart = "no"
)");
  // A header name is not a value: quotes there are bad characters.
  ASSERT_EQ(p.messages.size(), 1u);
  EXPECT_EQ(p.messages[0], "hv.cfg:1:5: bad character '\"' in a VM name (allowed: a-z A-Z 0-9 _ -)");

  const auto q = parse_text(R"([vm q]
memory = "32"
image = "q.elf"
args = "say \"hi\" \\ back"
expect = "exit 3"
autostart = "no"
)");
  ASSERT_TRUE(q.ok) << ::testing::PrintToString(q.messages);
  EXPECT_EQ(q.vm(0).memory_mib, 32u);
  EXPECT_EQ(q.vm(0).image.view(), "q.elf");
  EXPECT_EQ(q.vm(0).args.view(), R"(say "hi" \ back)");
  EXPECT_EQ(q.vm(0).expect.status, 3u);
  EXPECT_FALSE(q.vm(0).autostart);
  // Empty args, quoted or bare.
  EXPECT_TRUE(parse_text("[vm e]\nmemory=2\nimage=e\nargs = \"\"\n").vm(0).args.empty());
  EXPECT_TRUE(parse_text("[vm e]\nmemory=2\nimage=e\nargs =\n").ok);
}

TEST(ConfigParse, NumbersMayBeHexadecimal) {
  const auto p = parse_text("quantum_us = 0x2710\n[vm h]\nmemory = 0x40\nimage = h\nexpect = exit 0xff\ncpus = 0x3\n");
  ASSERT_TRUE(p.ok) << ::testing::PrintToString(p.messages);
  EXPECT_EQ(p.config->globals.quantum_us, 10000u);
  EXPECT_EQ(p.vm(0).memory_mib, 64u);
  EXPECT_EQ(p.vm(0).expect.status, 255u);
  EXPECT_EQ(p.vm(0).cpu_affinity, 0b1000u);
}

TEST(ConfigParse, CpuListForms) {
  const std::pair<std::string, u64> cases[] = {
      {"0", 0x1},           {"1", 0x2},          {"0-3", 0xf},
      {"0,2", 0x5},         {"3,1", 0xa},        {"0-1,1-2", 0x7},
      {"63", u64{1} << 63}, {"0-63", ~u64{0}},   {"any", ~u64{0}},
      {"5-5", 0x20},        {"62-63,0", (u64{3} << 62) | 1},
  };
  for (const auto& [text, mask] : cases) {
    const auto p = parse_text("[vm c]\nmemory=2\nimage=c\ncpus = " + text + "\n");
    ASSERT_TRUE(p.ok) << text << ": " << ::testing::PrintToString(p.messages);
    EXPECT_EQ(p.vm(0).cpu_affinity, mask) << text;
  }
}

TEST(ConfigParse, EveryLogLevelAndTheQuantumBounds) {
  const std::pair<std::string, Log_level> levels[] = {{"error", Log_level::error}, {"warn", Log_level::warn},
                                                      {"info", Log_level::info},   {"debug", Log_level::debug},
                                                      {"trace", Log_level::trace}};
  for (const auto& [word, level] : levels) {
    const auto p = parse_text("log_level = " + word + "\n");
    ASSERT_TRUE(p.ok) << word;
    EXPECT_EQ(p.config->globals.log_level, level);
  }
  EXPECT_EQ(parse_text("quantum_us = 100\n").config->globals.quantum_us, quantum_us_min);
  EXPECT_EQ(parse_text("quantum_us = 1000000\n").config->globals.quantum_us, quantum_us_max);
}

TEST(ConfigParse, LimitsAreInclusive) {
  const std::string name31(31, 'n');
  const std::string image63(59, 'i');
  const std::string args63(63, 'a');
  const std::string reason31(31, 'r');
  const auto p = parse_text("[vm " + name31 + "]\nmemory = 2\nimage = " + image63 + ".elf\nargs = \"" + args63 +
                            "\"\nexpect = stop " + reason31 + "\n");
  ASSERT_TRUE(p.ok) << ::testing::PrintToString(p.messages);
  EXPECT_EQ(p.vm(0).name.view(), name31);
  EXPECT_EQ(p.vm(0).image.size(), 63u);
  EXPECT_EQ(p.vm(0).args.view(), args63);
  EXPECT_EQ(p.vm(0).expect.reason.view(), reason31);

  // 16 VMs fill the model.
  std::string many;
  for (int i = 0; i < 16; ++i) many += "[vm v" + std::to_string(i) + "]\nmemory=2\nimage=v.elf\n";
  const auto m = parse_text(many);
  ASSERT_TRUE(m.ok) << ::testing::PrintToString(m.messages);
  EXPECT_EQ(m.config->vm_count, config_max_vms);
  EXPECT_EQ(m.vm(15).name.view(), "v15");

  // A line of exactly 255 characters (a padded comment) is fine.
  std::string line255 = "log_level = info #";
  line255.resize(255, 'x');
  EXPECT_TRUE(parse_text(line255 + "\n").ok);
}

// The example of docs/config.md, word for word: keep the two in step.
constexpr std::string_view documented_example = R"(# hv.cfg - four test guests on two CPUs
log_level = info
console = com1
quantum_us = 10000          # 10 ms slices

[vm hello]
memory = 64                 # MiB
image = hello.elf           # \EFI\hv\guests\hello.elf
expect = exit 0

[vm memtest-a]
memory = 256
image = memtest.elf
cpus = 0
args = "pattern=walking-ones"
expect = exit 0

[vm memtest-b]
memory = 256
image = memtest.elf
cpus = 1
args = "pattern=\"random\" seed=7"
expect = exit 0

[vm bad]                    # must be stopped, without harm to the others
memory = 16
image = badguest.elf
cpus = 0-1
args = "oob-read"
expect = stop ept-outside-slot

[vm spare]
memory = 32
image = hello.elf
autostart = no              # created, started later from the monitor
)";

TEST(ConfigParse, TheDocumentedExampleParses) {
  const auto p = parse_text(documented_example);
  ASSERT_TRUE(p.ok) << ::testing::PrintToString(p.messages);
  ASSERT_EQ(p.config->vm_count, 5u);
  EXPECT_EQ(p.config->find_vm("memtest-b")->args.view(), "pattern=\"random\" seed=7");
  EXPECT_EQ(p.config->find_vm("memtest-b")->cpu_affinity, 0b10u);
  EXPECT_EQ(p.config->find_vm("bad")->expect.reason.view(), "ept-outside-slot");
  EXPECT_FALSE(p.config->find_vm("spare")->autostart);
}

TEST(ConfigParse, FindVmByName) {
  const auto p = parse_text(full_file);
  ASSERT_NE(p.config->find_vm("faulty"), nullptr);
  EXPECT_EQ(p.config->find_vm("faulty")->image.view(), "fault.elf");
  EXPECT_EQ(p.config->find_vm("fault"), nullptr);
  EXPECT_EQ(p.config->find_vm(""), nullptr);
}

TEST(ConfigParse, ParsingAgainReplacesEverything) {
  auto p = parse_text("log_level = loud\n[vm x]\nmemory = 1\n[vm y]\n");
  ASSERT_FALSE(p.ok);
  ASSERT_TRUE(parse_config("[vm z]\nmemory = 3\nimage = z\n", "again.cfg", *p.config));
  EXPECT_EQ(p.config->error_count(), 0u);
  EXPECT_EQ(p.config->vm_count, 1u);
  EXPECT_EQ(p.config->vms[1].name.view(), "");
  EXPECT_EQ(p.config->file_name.view(), "again.cfg");
  EXPECT_EQ(p.config->globals.log_level, Log_level::info);
}

TEST(ConfigParse, MessagesCarryTheGivenFileName) {
  EXPECT_THAT(parse_text("[vm a]\nmemory = 64x\nimage = a\n", "test.cfg").messages,
              ElementsAre("test.cfg:2:10: expected a number of MiB (2..65536), got \"64x\""));
}

// boot/ keeps its Config in static storage; it must not need a global constructor.
constinit Config g_static_config;

TEST(ConfigModel, ParsesIntoConstinitStorage) {
  ASSERT_TRUE(parse_config("[vm s]\nmemory = 2\nimage = s\n", "hv.cfg", g_static_config));
  EXPECT_EQ(g_static_config.vms[0].name.view(), "s");
  static_assert(std::is_trivially_destructible_v<Config>);
}

TEST(ConfigModel, ConfigStringNeverOverflows) {
  Config_string<4> s;
  EXPECT_TRUE(s.assign("abcd"));
  EXPECT_FALSE(s.assign("abcdef"));
  EXPECT_EQ(s.view(), "abcd");
  EXPECT_FALSE(s.push_back('x'));
  s.clear();
  EXPECT_TRUE(s.empty());
}

std::string cpu_list(u64 mask) {
  Fixed_text<256> out;
  format_cpu_list(out, mask);
  return std::string(out.view());
}

TEST(ConfigFormat, CpuListTextRoundTrips) {
  EXPECT_EQ(cpu_list(cpu_affinity_any), "any");
  EXPECT_EQ(cpu_list(0), "none");
  EXPECT_EQ(cpu_list(0x1), "0");
  EXPECT_EQ(cpu_list(0xf), "0-3");
  EXPECT_EQ(cpu_list(0b1011010), "1,3-4,6");
  EXPECT_EQ(cpu_list(u64{1} << 63), "63");
  EXPECT_EQ(cpu_list(~u64{0} >> 1), "0-62");
  for (u64 mask : {u64{0x5}, u64{0xf0f0}, u64{1} << 63 | 1, ~u64{0} >> 1, u64{0xaaaaaaaaaaaaaaaa}}) {
    const auto p = parse_text("[vm c]\nmemory=2\nimage=c\ncpus = " + cpu_list(mask) + "\n");
    ASSERT_TRUE(p.ok) << cpu_list(mask);
    EXPECT_EQ(p.vm(0).cpu_affinity, mask);
  }
}

std::string expectation(const Vm_expectation& e) {
  Fixed_text<64> out;
  format_vm_expectation(out, e);
  return std::string(out.view());
}

TEST(ConfigFormat, ExpectationInTheConfigsOwnWords) {
  const auto p = parse_text(full_file);
  EXPECT_EQ(expectation(p.vm(0).expect), "exit 0");
  EXPECT_EQ(expectation(p.vm(1).expect), "stop ept-outside-slot");
  EXPECT_EQ(expectation(p.vm(2).expect), "triple-fault");
  EXPECT_EQ(expectation(Vm_expectation{}), "none");
  EXPECT_STREQ(paging_mode_name(Paging_mode::ept), "ept");
  EXPECT_STREQ(paging_mode_name(Paging_mode::shadow), "shadow");
  EXPECT_STREQ(console_port_name(Console_port::com1), "com1");
}

TEST(ConfigFormat, TheLongestDiagnosticFitsItsBuffer) {
  Config_diagnostic d;
  d.line = ~u32{0};
  d.column = ~u32{0};
  (void)d.message.assign(std::string(config_max_message, 'm'));
  Fixed_text<config_diagnostic_text_max> line;
  format_config_diagnostic(line, std::string(config_max_file_name, 'f'), d);
  EXPECT_FALSE(line.truncated());
  EXPECT_EQ(line.size(), config_max_file_name + 2 * 10 + 3 + 1 + config_max_message);
}

TEST(ConfigFormat, NoDiagnosticForAGoodFile) {
  EXPECT_THAT(config_errors(full_file), IsEmpty());
}

TEST(ConfigParse, MergerKnobsAndPerVmMerge) {
  const auto p = parse_text("ksm_run = 1\nksm_pages_to_scan = 0x400\nksm_sleep_millisecs = 0\nksm_max_page_sharing = 512\n"
                            "ksm_merge_across_vms = 0\nksm_split_2m_min_pages = 128\nksm_release_zero_pages = 0\n"
                            "[vm a]\nmemory = 8\nimage = a\nmerge = off\n[vm b]\nmemory = 8\nimage = b\n");
  ASSERT_TRUE(p.messages.empty()) << p.messages[0];
  const Merge_knobs& k = p.config->globals.ksm;
  EXPECT_EQ(k.run, 1u);
  EXPECT_EQ(k.sleep_millisecs, 0u);
  EXPECT_EQ(k.max_page_sharing, 512u);
  EXPECT_EQ(k.merge_across_vms, 0u);
  EXPECT_EQ(k.split_2m_min_pages, 128u);
  EXPECT_EQ(k.release_zero_pages, 0u);
  EXPECT_FALSE(p.vm(0).merge);
  EXPECT_TRUE(p.vm(1).merge);  // the default
  const auto d = parse_text("[vm a]\nmemory = 8\nimage = a\n");
  EXPECT_EQ(d.config->globals.ksm.run, 0u);  // merging is off unless asked for, as Linux
  EXPECT_EQ(d.config->globals.ksm.pages_to_scan, 100u);
}

TEST(ConfigParse, MemoryCurrentIsTheStartSizeAndMayComeBeforeMemory) {
  const auto p = parse_text("[vm a]\nmemory = 256\nmemory_current = 64\nimage = a\n"
                            "[vm b]\nmemory_current = 0x20\nimage = b\nmemory = 128\n"
                            "[vm c]\nmemory = 64\nimage = c\n");
  ASSERT_TRUE(p.ok) << ::testing::PrintToString(p.messages);
  EXPECT_EQ(p.vm(0).memory_mib, 256u);
  EXPECT_EQ(p.vm(0).memory_current_mib, 64u);
  EXPECT_EQ(p.vm(1).memory_mib, 128u);
  EXPECT_EQ(p.vm(1).memory_current_mib, 32u);
  EXPECT_EQ(p.vm(2).memory_current_mib, 0u) << "absent: 0, the same as memory";
}

TEST(ConfigParse, MemoryCurrentBoundsAreTheFloorAndTheMemory) {
  // The floor is balloon_floor_pages in MiB rounded up: 1/16 of memory, at least 4 MiB, at most memory.
  EXPECT_EQ(memory_current_floor_mib(2), 2u);
  EXPECT_EQ(memory_current_floor_mib(4), 4u);
  EXPECT_EQ(memory_current_floor_mib(64), 4u);
  EXPECT_EQ(memory_current_floor_mib(100), 7u) << "6.25 MiB rounded up";
  EXPECT_EQ(memory_current_floor_mib(256), 16u);
  EXPECT_EQ(memory_current_floor_mib(65536), 4096u);
  for (u32 mib : {2u, 3u, 4u, 64u, 100u, 256u, 65536u}) {
    const u32 floor = memory_current_floor_mib(mib);
    EXPECT_GE(u64{floor} * 256, balloon_floor_pages(u64{mib} * 256)) << mib;
    for (u32 current : {floor, mib}) {
      const auto p = parse_text("[vm a]\nimage = a\nmemory = " + std::to_string(mib) + "\nmemory_current = " +
                                std::to_string(current) + "\n");
      EXPECT_TRUE(p.ok) << mib << " " << current << ": " << ::testing::PrintToString(p.messages);
      EXPECT_EQ(p.vm(0).memory_current_mib, current);
    }
  }
}

TEST(ConfigParse, AutoBalloonIsOnUnlessTurnedOff) {
  EXPECT_TRUE(parse_text("[vm a]\nmemory = 8\nimage = a\n").config->globals.auto_balloon);
  const auto off = parse_text("auto_balloon = off\n[vm a]\nmemory = 8\nimage = a\n");
  ASSERT_TRUE(off.ok) << ::testing::PrintToString(off.messages);
  EXPECT_FALSE(off.config->globals.auto_balloon);
  EXPECT_TRUE(parse_text("auto_balloon = on\n").config->globals.auto_balloon);
}

} // namespace
} // namespace hv
