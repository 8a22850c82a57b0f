// tests/unit/config_errors_test.cpp - hv.cfg: every error path, with its exact
// "file:line:column: message", and what each error does to the model (which VM is invalid,
// which default stays).
#include "core/config.hpp"
#include "unit/support/config_parse.hpp"
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <string>

namespace hv {
namespace {

using test::config_errors;
using test::parse_text;
using ::testing::ElementsAre;

// A VM section around one line, which lands on line 4.
std::string in_vm(const std::string& line) { return "# test\n[vm t]\nimage = t.elf\n" + line + "\nmemory = 8\n"; }
std::vector<std::string> vm_line_errors(const std::string& line) { return config_errors(in_vm(line)); }
// The same for a line that sets one of the required keys: the section has only the other.
std::vector<std::string> memory_line_errors(const std::string& line) {
  return config_errors("# test\n[vm t]\nimage = t.elf\n" + line + "\n");
}
std::vector<std::string> image_line_errors(const std::string& line) {
  return config_errors("# test\n[vm t]\nmemory = 8\n" + line + "\n");
}

// --- the file as a whole -------------------------------------------------------------------

TEST(ConfigErrors, EmptyFiles) {
  const char* empty = "hv.cfg:1:1: the file is empty: expected settings or [vm NAME] sections";
  EXPECT_THAT(config_errors(""), ElementsAre(empty));
  EXPECT_THAT(config_errors("\n\n   \n"), ElementsAre(empty));
  EXPECT_THAT(config_errors("# only\n  # comments\n"), ElementsAre(empty));
  EXPECT_THAT(config_errors("\xEF\xBB\xBF"), ElementsAre(empty));
  EXPECT_THAT(config_errors("\r\n\r\n"), ElementsAre(empty));
}

TEST(ConfigErrors, NulByteRejectsTheWholeFile) {
  const std::string text = std::string("[vm a]\nmemory = 2\nimage = a\n\nlog_\0level = info\n", 43);
  const auto p = parse_text(text);
  EXPECT_THAT(p.messages,
              ElementsAre("hv.cfg:5:5: NUL byte: expected a text file (ASCII or UTF-8; UTF-16 is not supported)"));
  EXPECT_EQ(p.config->vm_count, 0u);
  // UTF-16 as a Windows editor saves it: a NUL after the first character.
  EXPECT_THAT(config_errors(std::string("[\0v\0m\0", 6)),
              ElementsAre("hv.cfg:1:2: NUL byte: expected a text file (ASCII or UTF-8; UTF-16 is not supported)"));
}

TEST(ConfigErrors, FileTooLarge) {
  const std::string big(config_max_file_size + 1, '\n');
  EXPECT_THAT(config_errors(big), ElementsAre("hv.cfg:1:1: the file is 1048577 bytes long; at most 1048576"));
}

TEST(ConfigErrors, LongLines) {
  std::string line256 = "log_level = info #";
  line256.resize(256, 'x');
  EXPECT_THAT(config_errors(line256 + "\nconsole = com1\n"),
              ElementsAre("hv.cfg:1:256: line is longer than 255 characters"));
  // In a VM's section it makes that VM invalid.
  const auto p = parse_text(in_vm("args = \"" + std::string(300, 'a') + "\""));
  EXPECT_THAT(p.messages, ElementsAre("hv.cfg:4:256: line is longer than 255 characters"));
  EXPECT_FALSE(p.vm(0).valid);
}

TEST(ConfigErrors, ControlCharactersAndLoneCarriageReturns) {
  EXPECT_THAT(config_errors("console = com1\x1b[0m\n"),
              ElementsAre("hv.cfg:1:15: control character 0x1b (expected printable text)"));
  EXPECT_THAT(config_errors("# comment\x7f\nconsole = com1\n"),
              ElementsAre("hv.cfg:1:10: control character 0x7f (expected printable text)"));
  // Old Mac line endings: one long line with CRs inside.
  EXPECT_THAT(config_errors("console = com1\rlog_level = info\r"),
              ElementsAre("hv.cfg:1:15: carriage return without a line feed (expected LF or CRLF line endings)"));
}

// --- settings and their syntax -------------------------------------------------------------

TEST(ConfigErrors, UnknownKeys) {
  EXPECT_THAT(config_errors("loglevel = info\n"),
              ElementsAre("hv.cfg:1:1: unknown key \"loglevel\" (global keys: log_level, console, quantum_us, on_all_stopped, "
                          "auto_balloon, shadow_paging, shadow_pages, ksm_KNOB)"));
  EXPECT_THAT(vm_line_errors("  memroy = 8"),
              ElementsAre("hv.cfg:4:3: unknown key \"memroy\" (VM keys: memory, memory_current, image, kernel, initrd, cpus, paging, "
                          "args, expect, autostart, merge)"));
  EXPECT_THAT(config_errors("Log-Level = info\n"),
              ElementsAre("hv.cfg:1:1: unknown key \"Log-Level\" (global keys: log_level, console, quantum_us, on_all_stopped, "
                          "auto_balloon, shadow_paging, shadow_pages, ksm_KNOB)"));
}

TEST(ConfigErrors, KeysInTheWrongPlace) {
  const auto p = parse_text("memory = 64\n[vm a]\nmemory = 2\nimage = a\n");
  EXPECT_THAT(p.messages, ElementsAre("hv.cfg:1:1: \"memory\" belongs to a VM: put it in a [vm NAME] section"));
  EXPECT_TRUE(p.vm(0).valid);
  EXPECT_THAT(vm_line_errors("log_level = debug"),
              ElementsAre("hv.cfg:4:1: \"log_level\" is a global setting: put it before the first [vm NAME] section"));
}

TEST(ConfigErrors, DuplicateKeys) {
  EXPECT_THAT(config_errors("console = com1\nconsole = com1\n"),
              ElementsAre("hv.cfg:2:1: duplicate key \"console\" (first set on line 1)"));
  const auto p = parse_text(in_vm("image = other.elf"));
  EXPECT_THAT(p.messages, ElementsAre("hv.cfg:4:1: duplicate key \"image\" (first set on line 3)"));
  EXPECT_EQ(p.vm(0).image.view(), "t.elf");
  EXPECT_FALSE(p.vm(0).valid);
  // The same key in two VMs is no duplicate.
  EXPECT_TRUE(parse_text("[vm a]\nmemory=2\nimage=a\n[vm b]\nmemory=2\nimage=b\n").ok);
}

TEST(ConfigErrors, SyntaxOfASetting) {
  EXPECT_THAT(config_errors("console com1\n"), ElementsAre("hv.cfg:1:9: expected '=' after \"console\", got \"com1\""));
  EXPECT_THAT(config_errors("console\n"), ElementsAre("hv.cfg:1:8: expected '=' after \"console\", got nothing"));
  EXPECT_THAT(config_errors("  = com1\n"),
              ElementsAre("hv.cfg:1:3: expected a setting (key = value) or a [vm NAME] header, got \"= com1\""));
  EXPECT_THAT(config_errors("\"console\" = com1\n"),
              ElementsAre("hv.cfg:1:1: expected a setting (key = value) or a [vm NAME] header, got "
                          "\"\\\"console\\\" = com1\""));
}

TEST(ConfigErrors, Strings) {
  EXPECT_THAT(vm_line_errors("args = \"open"),
              ElementsAre("hv.cfg:4:8: unterminated string: expected a closing '\"'"));
  EXPECT_THAT(vm_line_errors("args = \"ends in a backslash\\"),
              ElementsAre("hv.cfg:4:8: unterminated string: expected a closing '\"'"));
  EXPECT_THAT(vm_line_errors("args = \"a\\nb\""),
              ElementsAre("hv.cfg:4:10: unknown escape \\n in a string (only \\\" and \\\\)"));
  EXPECT_THAT(vm_line_errors("args = \"a\\\xc3\xa9\""),
              ElementsAre("hv.cfg:4:10: unknown escape: '\\' then 0xc3 (only \\\" and \\\\)"));
  // A blank after the backslash is named, not copied into the message (a tab would break the line).
  EXPECT_THAT(vm_line_errors("args = \"a\\\tb\""),
              ElementsAre("hv.cfg:4:10: unknown escape: '\\' then 0x09 (only \\\" and \\\\)"));
  EXPECT_THAT(vm_line_errors("args = \"a\\ b\""),
              ElementsAre("hv.cfg:4:10: unknown escape: '\\' then ' ' (only \\\" and \\\\)"));
  EXPECT_THAT(vm_line_errors("args = \"a\" b"),
              ElementsAre("hv.cfg:4:12: unexpected text after the closing quote: \"b\""));
  EXPECT_THAT(vm_line_errors("args = \"tab\there\""),
              ElementsAre("hv.cfg:4:12: bad character 0x09 in args (expected printable ASCII)"));
  EXPECT_THAT(vm_line_errors("args = \"caf\xc3\xa9\""),
              ElementsAre("hv.cfg:4:12: bad character 0xc3 in args (expected printable ASCII)"));
  EXPECT_THAT(vm_line_errors("args = \"" + std::string(240, 'a') + "\""),
              ElementsAre("hv.cfg:4:8: args is too long: 240 characters, at most 239"));
  EXPECT_TRUE(parse_text(in_vm("args = \"" + std::string(239, 'a') + "\"")).ok);  // a kernel command line
  // Escapes count as one character, and columns after them still point at the right place.
  EXPECT_THAT(vm_line_errors("args = \"\\\"\\\\\xff\""),
              ElementsAre("hv.cfg:4:13: bad character 0xff in args (expected printable ASCII)"));
  EXPECT_TRUE(parse_text(in_vm("args = \"" + std::string(61, 'a') + "\\\"\\\\\"")).ok);
}

// --- global values -------------------------------------------------------------------------

TEST(ConfigErrors, GlobalValuesKeepTheirDefaults) {
  const auto p = parse_text("log_level = verbose\nconsole = com2\nquantum_us = 99\n[vm a]\nmemory=2\nimage=a\n");
  EXPECT_THAT(p.messages,
              ElementsAre("hv.cfg:1:13: expected a log level (error, warn, info, debug, trace), got \"verbose\"",
                          "hv.cfg:2:11: expected a console (com1), got \"com2\"",
                          "hv.cfg:3:14: expected a time slice in microseconds (100..1000000), got \"99\""));
  EXPECT_EQ(p.config->globals.log_level, Log_level::info);
  EXPECT_EQ(p.config->globals.quantum_us, quantum_us_default);
  EXPECT_TRUE(p.vm(0).valid);
  EXPECT_THAT(config_errors("quantum_us = 1000001\n"),
              ElementsAre("hv.cfg:1:14: expected a time slice in microseconds (100..1000000), got \"1000001\""));
  EXPECT_THAT(config_errors("quantum_us = -5\n"),
              ElementsAre("hv.cfg:1:14: expected a time slice in microseconds (100..1000000), got \"-5\""));
  EXPECT_THAT(config_errors("quantum_us =\n"),
              ElementsAre("hv.cfg:1:13: expected a time slice in microseconds (100..1000000), got nothing"));
}

// --- section headers -----------------------------------------------------------------------

TEST(ConfigErrors, SectionHeaders) {
  EXPECT_THAT(config_errors("[guest a]\nmemory = 2\n"),
              ElementsAre("hv.cfg:1:2: expected \"vm\" after '[' (sections are [vm NAME]), got \"guest a]\""));
  EXPECT_THAT(config_errors("[vm]\n"), ElementsAre("hv.cfg:1:4: expected a VM name after \"vm\", got \"]\""));
  EXPECT_THAT(config_errors("[vm   ]\n"), ElementsAre("hv.cfg:1:7: expected a VM name after \"vm\", got \"]\""));
  EXPECT_THAT(config_errors("[vm a.b]\nmemory=2\nimage=a\n"),
              ElementsAre("hv.cfg:1:6: bad character '.' in a VM name (allowed: a-z A-Z 0-9 _ -)"));
  EXPECT_THAT(config_errors("[vm " + std::string(32, 'n') + "]\nmemory=2\nimage=a\n"),
              ElementsAre("hv.cfg:1:5: VM name is too long: 32 characters, at most 31"));
  EXPECT_THAT(config_errors("[vm a\nmemory=2\nimage=a\n"),
              ElementsAre("hv.cfg:1:6: expected ']' after the VM name, got nothing"));
  EXPECT_THAT(config_errors("[vm a b]\nmemory=2\nimage=a\n"),
              ElementsAre("hv.cfg:1:7: expected ']' after the VM name, got \"b]\""));
  EXPECT_THAT(config_errors("[vm a] memory = 2\nmemory=2\nimage=a\n"),
              ElementsAre("hv.cfg:1:8: unexpected text after the section header: \"memory = 2\""));
}

TEST(ConfigErrors, DuplicateVmNames) {
  const auto p = parse_text("[vm a]\nmemory=2\nimage=a\n\n[vm a]\nmemory=4\nimage=b\n");
  EXPECT_THAT(p.messages, ElementsAre("hv.cfg:5:5: duplicate VM name \"a\" (first on line 1)"));
  ASSERT_EQ(p.config->vm_count, 2u);
  EXPECT_TRUE(p.vm(0).valid);
  EXPECT_FALSE(p.vm(1).valid);
}

TEST(ConfigErrors, TooManyVms) {
  std::string text;
  for (int i = 0; i < 18; ++i) text += "[vm v" + std::to_string(i) + "]\nmemory=2\nimage=v\nbogus=1\n";
  const auto p = parse_text(text);
  // The 16 kept VMs each report their bogus key; the two extra sections only their header.
  ASSERT_EQ(p.messages.size(), 18u);
  EXPECT_EQ(p.messages[16], "hv.cfg:65:1: too many VMs: at most 16 [vm NAME] sections; this one is ignored");
  EXPECT_EQ(p.messages[17], "hv.cfg:69:1: too many VMs: at most 16 [vm NAME] sections; this one is ignored");
  EXPECT_EQ(p.config->vm_count, config_max_vms);
}

TEST(ConfigErrors, ABrokenHeaderIsNotBlamedOnThePreviousVm) {
  const auto p = parse_text("[vm a]\nmemory=2\nimage=a\n[vm b.c]\nmemory=2\nimage=b\n[oops\nmemory = x\n");
  EXPECT_THAT(p.messages,
              ElementsAre("hv.cfg:4:6: bad character '.' in a VM name (allowed: a-z A-Z 0-9 _ -)",
                          "hv.cfg:7:2: expected \"vm\" after '[' (sections are [vm NAME]), got \"oops\""));
  EXPECT_TRUE(p.vm(0).valid);
  EXPECT_FALSE(p.vm(1).valid);
  EXPECT_EQ(p.vm(1).name.view(), "b.c"); // kept so that boot/ can say which VM is not started
  EXPECT_EQ(p.config->vm_count, 2u);
  // A header line that is too long or holds a control character opens no section either.
  std::string long_header = "[vm x] #";
  long_header.resize(300, '-');
  const auto q = parse_text("[vm a]\nmemory=2\nimage=a\n" + long_header + "\nmemory = x\n");
  EXPECT_THAT(q.messages, ElementsAre("hv.cfg:4:256: line is longer than 255 characters"));
  EXPECT_TRUE(q.vm(0).valid);
  EXPECT_EQ(q.config->vm_count, 1u);
}

// --- VM values -----------------------------------------------------------------------------

TEST(ConfigErrors, Memory) {
  EXPECT_THAT(config_errors("[vm a]\nimage = a\nmemory = 64x\n"),
              ElementsAre("hv.cfg:3:10: expected a number of MiB (2..65536), got \"64x\""));
  EXPECT_THAT(memory_line_errors("memory = 1"), ElementsAre("hv.cfg:4:10: expected a number of MiB (2..65536), got \"1\""));
  EXPECT_THAT(memory_line_errors("memory = 65537"),
              ElementsAre("hv.cfg:4:10: expected a number of MiB (2..65536), got \"65537\""));
  EXPECT_THAT(memory_line_errors("memory = 99999999999999999999999"),
              ElementsAre("hv.cfg:4:10: expected a number of MiB (2..65536), got \"99999999999999999999999\""));
  EXPECT_THAT(memory_line_errors("memory = 64 MiB"),
              ElementsAre("hv.cfg:4:10: expected a number of MiB (2..65536), got \"64 MiB\""));
  EXPECT_THAT(memory_line_errors("memory = # none"), ElementsAre("hv.cfg:4:10: expected a number of MiB (2..65536), got nothing"));
  EXPECT_THAT(memory_line_errors("memory = 0x"), ElementsAre("hv.cfg:4:10: expected a number of MiB (2..65536), got \"0x\""));
}

TEST(ConfigErrors, Image) {
  EXPECT_THAT(image_line_errors("image = guests/a.elf"),
              ElementsAre("hv.cfg:4:9: expected a plain file name in \\EFI\\hv\\guests\\ (no folders), got "
                          "\"guests/a.elf\""));
  EXPECT_THAT(image_line_errors("image = \"..\\\\a.elf\""),
              ElementsAre("hv.cfg:4:9: expected a plain file name in \\EFI\\hv\\guests\\ (no folders), got "
                          "\"..\\\\a.elf\""));
  EXPECT_THAT(image_line_errors("image = my guest.elf"),
              ElementsAre("hv.cfg:4:11: bad character ' ' in the image file name (allowed: a-z A-Z 0-9 . _ - +)"));
  EXPECT_THAT(image_line_errors("image = .."), ElementsAre("hv.cfg:4:9: expected a file name in \\EFI\\hv\\guests\\, got \"..\""));
  EXPECT_THAT(image_line_errors("image = " + std::string(64, 'i')),
              ElementsAre("hv.cfg:4:9: image file name is too long: 64 characters, at most 63"));
}

TEST(ConfigErrors, EmptyImageIsNotMissing) {
  // On line 3 of the helper's section is the first image; here a VM with an empty one.
  EXPECT_THAT(config_errors("[vm a]\nmemory = 2\nimage =\n"),
              ElementsAre("hv.cfg:3:8: expected a file name in \\EFI\\hv\\guests\\, got nothing"));
}

TEST(ConfigErrors, CpuLists) {
  EXPECT_THAT(vm_line_errors("cpus = 64"), ElementsAre("hv.cfg:4:8: CPU 64 is out of range (0..63)"));
  EXPECT_THAT(vm_line_errors("cpus = 0-64"), ElementsAre("hv.cfg:4:10: CPU 64 is out of range (0..63)"));
  EXPECT_THAT(vm_line_errors("cpus = 3-1"), ElementsAre("hv.cfg:4:8: CPU range 3-1 is reversed (expected LOW-HIGH)"));
  EXPECT_THAT(vm_line_errors("cpus = 0,"),
              ElementsAre("hv.cfg:4:10: expected a CPU list like 0-3 or 0,2 (CPUs 0..63) or any, got nothing"));
  EXPECT_THAT(vm_line_errors("cpus = all"),
              ElementsAre("hv.cfg:4:8: expected a CPU list like 0-3 or 0,2 (CPUs 0..63) or any, got \"all\""));
  EXPECT_THAT(vm_line_errors("cpus = 1, x2"),
              ElementsAre("hv.cfg:4:11: expected a CPU list like 0-3 or 0,2 (CPUs 0..63) or any, got \"x2\""));
  EXPECT_THAT(vm_line_errors("cpus = 0;1"), ElementsAre("hv.cfg:4:9: expected ',' or '-' in the CPU list, got \";1\""));
  EXPECT_THAT(vm_line_errors("cpus ="),
              ElementsAre("hv.cfg:4:7: expected a CPU list like 0-3 or 0,2 (CPUs 0..63) or any, got nothing"));
  EXPECT_THAT(vm_line_errors("cpus = 1-"),
              ElementsAre("hv.cfg:4:10: expected a CPU list like 0-3 or 0,2 (CPUs 0..63) or any, got nothing"));
}

TEST(ConfigErrors, PagingModesAndTheShadowBudget) {
  const auto p = parse_text(in_vm("paging = shadow"));
  EXPECT_TRUE(p.messages.empty());
  EXPECT_TRUE(p.vm(0).valid);
  EXPECT_EQ(p.vm(0).paging, Paging_mode::shadow);
  EXPECT_THAT(vm_line_errors("paging = npt"), ElementsAre("hv.cfg:4:10: expected a paging mode (ept or shadow), got \"npt\""));
  EXPECT_THAT(config_errors("shadow_pages = 8\n"),
              ElementsAre("hv.cfg:1:16: expected a number of shadow table pages per VM (16..2048), got \"8\""));
  EXPECT_THAT(config_errors("shadow_pages = 4096\n"),
              ElementsAre("hv.cfg:1:16: expected a number of shadow table pages per VM (16..2048), got \"4096\""));
  EXPECT_THAT(config_errors("shadow_paging = maybe\n"), testing::SizeIs(1));
  const auto g = parse_text("shadow_paging = on\nshadow_pages = 64\n[vm a]\nmemory = 2\nimage = a\n");
  EXPECT_TRUE(g.ok);
  EXPECT_TRUE(g.config->globals.shadow_paging);
  EXPECT_EQ(g.config->globals.shadow_pages, 64u);
}

TEST(ConfigErrors, Expectations) {
  const char* forms = "expected \"exit N\", \"triple-fault\" or \"stop REASON\", got ";
  EXPECT_THAT(vm_line_errors("expect = pass"), ElementsAre(std::string("hv.cfg:4:10: ") + forms + "\"pass\""));
  EXPECT_THAT(vm_line_errors("expect ="), ElementsAre(std::string("hv.cfg:4:9: ") + forms + "nothing"));
  EXPECT_THAT(vm_line_errors("expect = exit"),
              ElementsAre("hv.cfg:4:14: expected an exit status after \"exit\" (0..4294967295), got nothing"));
  EXPECT_THAT(vm_line_errors("expect = exit 4294967296"),
              ElementsAre("hv.cfg:4:15: expected an exit status after \"exit\" (0..4294967295), got \"4294967296\""));
  EXPECT_THAT(vm_line_errors("expect = exit 0 1"), ElementsAre("hv.cfg:4:17: unexpected \"1\" after \"exit 0\""));
  EXPECT_THAT(vm_line_errors("expect = triple-fault now"),
              ElementsAre("hv.cfg:4:23: unexpected \"now\" after \"triple-fault\""));
  EXPECT_THAT(vm_line_errors("expect = stop"),
              ElementsAre("hv.cfg:4:14: expected a stop reason after \"stop\" (a word such as ept-outside-slot), got "
                          "nothing"));
  EXPECT_THAT(vm_line_errors("expect = stop ept.outside"),
              ElementsAre("hv.cfg:4:18: bad character '.' in a stop reason (allowed: a-z A-Z 0-9 _ -)"));
  EXPECT_THAT(vm_line_errors("expect = stop " + std::string(32, 'r')),
              ElementsAre("hv.cfg:4:15: stop reason is too long: 32 characters, at most 31"));
  EXPECT_THAT(vm_line_errors("expect = \"exit 1 2\""), ElementsAre("hv.cfg:4:18: unexpected \"2\" after \"exit 1\""));
}

TEST(ConfigErrors, Autostart) {
  EXPECT_THAT(vm_line_errors("autostart = true"), ElementsAre("hv.cfg:4:13: expected yes or no, got \"true\""));
  EXPECT_THAT(vm_line_errors("autostart = YES"), ElementsAre("hv.cfg:4:13: expected yes or no, got \"YES\""));
}

TEST(ConfigErrors, KernelAndImageAndInitrd) {
  // A VM boots a test-guest ELF (image) or a Linux kernel (kernel, with an optional initrd).
  auto ok = parse_text("[vm lx]\nmemory = 128\nkernel = vmlinuz\ninitrd = initrd.cpio.gz\nargs = \"console=ttyS0\"\n");
  ASSERT_TRUE(ok.ok);
  EXPECT_TRUE(ok.vm(0).boots_kernel);
  EXPECT_EQ(ok.vm(0).image.view(), "vmlinuz");
  EXPECT_EQ(ok.vm(0).initrd.view(), "initrd.cpio.gz");
  auto elf = parse_text("[vm t]\nmemory = 8\nimage = t.elf\n");
  ASSERT_TRUE(elf.ok);
  EXPECT_FALSE(elf.vm(0).boots_kernel);
  EXPECT_THAT(config_errors("[vm b]\nmemory = 8\nimage = t.elf\nkernel = vmlinuz\n"),
              ElementsAre("hv.cfg:4:1: VM \"b\" has both \"image\" and \"kernel\": a VM boots either a test-guest ELF or a Linux kernel"));
  EXPECT_THAT(config_errors("[vm r]\nmemory = 8\nimage = t.elf\ninitrd = rd\n"),
              ElementsAre("hv.cfg:4:1: \"initrd\" needs a \"kernel\" (a test-guest image takes no initrd)"));
  EXPECT_THAT(config_errors("[vm k]\nmemory = 8\nkernel = a/vmlinuz\n"),
              ElementsAre("hv.cfg:3:10: expected a plain file name in \\EFI\\hv\\guests\\ (no folders), got \"a/vmlinuz\""));
}

TEST(ConfigErrors, MissingRequiredKeysPointAtTheHeader) {
  const auto p = parse_text("log_level = info\n  [vm lonely]\nargs = \"x\"\n[vm ok]\nmemory=2\nimage=ok\n");
  EXPECT_THAT(p.messages,
              ElementsAre("hv.cfg:2:3: VM \"lonely\" has no \"memory\" (required: memory = MiB, 2..65536)",
                          "hv.cfg:2:3: VM \"lonely\" has no \"image\" or \"kernel\" (required: image = test-guest ELF or kernel = bzImage, in \\EFI\\hv\\guests\\)"));
  EXPECT_FALSE(p.vm(0).valid);
  EXPECT_EQ(p.vm(0).error_count, 2u);
  EXPECT_TRUE(p.vm(1).valid);
  // A key whose value was bad is reported once, not also as missing.
  EXPECT_THAT(config_errors("[vm a]\nmemory = lots\nimage = a\n"),
              ElementsAre("hv.cfg:2:10: expected a number of MiB (2..65536), got \"lots\""));
}

// --- how errors shape the model ------------------------------------------------------------

TEST(ConfigErrors, OnlyTheBadVmIsInvalid) {
  const auto p = parse_text(
      "[vm good1]\nmemory=2\nimage=a\n"
      "[vm bad]\nmemory=2\nimage=b\ncpus = 99\npaging = npt\n"
      "[vm good2]\nmemory=4\nimage=c\n");
  EXPECT_FALSE(p.ok);
  ASSERT_EQ(p.config->vm_count, 3u);
  EXPECT_TRUE(p.vm(0).valid);
  EXPECT_FALSE(p.vm(1).valid);
  EXPECT_EQ(p.vm(1).error_count, 2u);
  EXPECT_TRUE(p.vm(2).valid);
  for (const Config_diagnostic& d : p.config->diagnostic_list()) EXPECT_EQ(d.vm, 1u);
}

TEST(ConfigErrors, DiagnosticsAreSortedByPosition) {
  const auto p = parse_text("[vm a]\nbogus = 1\n[vm b]\nmemory = 2\nimage = b\nlog_level = x\n");
  EXPECT_THAT(p.messages,
              ElementsAre("hv.cfg:1:1: VM \"a\" has no \"memory\" (required: memory = MiB, 2..65536)",
                          "hv.cfg:1:1: VM \"a\" has no \"image\" or \"kernel\" (required: image = test-guest ELF or kernel = bzImage, in \\EFI\\hv\\guests\\)",
                          "hv.cfg:2:1: unknown key \"bogus\" (VM keys: memory, memory_current, image, kernel, initrd, cpus, paging, "
                          "args, expect, autostart, merge)",
                          "hv.cfg:6:1: \"log_level\" is a global setting: put it before the first [vm NAME] section"));
}

TEST(ConfigErrors, TheListIsBoundedAndCountsWhatItDropped) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "nonsense" + std::to_string(i) + " = 1\n";
  const auto p = parse_text(text);
  EXPECT_EQ(p.config->diagnostic_count, config_max_diagnostics);
  EXPECT_EQ(p.config->diagnostics_dropped, 8u);
  EXPECT_EQ(p.config->error_count(), 40u);
  EXPECT_EQ(p.messages.back(), "hv.cfg:32:1: unknown key \"nonsense31\" (global keys: log_level, console, quantum_us, "
                               "on_all_stopped, auto_balloon, shadow_paging, shadow_pages, ksm_KNOB)");
}

TEST(ConfigErrors, LongValuesAreCutInMessages) {
  EXPECT_THAT(memory_line_errors("memory = " + std::string(100, '7')),
              ElementsAre("hv.cfg:4:10: expected a number of MiB (2..65536), got \"" + std::string(40, '7') + "...\""));
}

TEST(ConfigErrors, MergerKnobsAreCheckedWithTheirNameAndRange) {
  const auto p = parse_text("ksm_run = 3\nksm_pages_to_scan = 0\nksm_sleep_millisecs = soon\nksm_run = 1\n"
                            "[vm a]\nmemory = 8\nimage = a\nmerge = maybe\nksm_run = 1\n");
  EXPECT_THAT(p.messages,
              ElementsAre("hv.cfg:1:11: expected ksm_run as a number 0..2 (0 stop, 1 run, 2 unmerge all and stop), got \"3\"",
                          "hv.cfg:2:21: expected ksm_pages_to_scan as a number 1..16777216 (4 KiB pages scanned per "
                          "wake-up), got \"0\"",
                          "hv.cfg:3:23: expected ksm_sleep_millisecs as a number 0..3600000 (sleep between wake-ups), got "
                          "\"soon\"",
                          "hv.cfg:4:1: duplicate key \"ksm_run\" (first set on line 1)",
                          "hv.cfg:8:9: expected on or off, got \"maybe\"",
                          "hv.cfg:9:1: \"ksm_run\" is a global setting: put it before the first [vm NAME] section"));
}

TEST(ConfigErrors, MemoryCurrentAboveMemoryOrBelowTheFloor) {
  // Reported at memory_current's value, naming both numbers, whichever key comes first.
  const auto above = parse_text("[vm a]\nimage = a\nmemory_current = 300\nmemory = 256\n[vm b]\nmemory = 8\nimage = b\n");
  EXPECT_THAT(above.messages, ElementsAre("hv.cfg:3:18: memory_current = 300 MiB is above the VM's memory = 256 MiB "
                                          "(expected 16..256)"));
  EXPECT_FALSE(above.vm(0).valid);
  EXPECT_TRUE(above.vm(1).valid);
  EXPECT_THAT(vm_line_errors("memory_current = 9"),
              ElementsAre("hv.cfg:4:18: memory_current = 9 MiB is above the VM's memory = 8 MiB (expected 4..8)"));
  EXPECT_THAT(config_errors("[vm a]\nimage = a\nmemory = 256\nmemory_current =   15\n"),
              ElementsAre("hv.cfg:4:20: memory_current = 15 MiB is below the balloon floor of 16 MiB for memory = 256 "
                          "MiB (1/16, at least 4 MiB; docs/balloon.md)"));
  EXPECT_THAT(vm_line_errors("memory_current = 0"),
              ElementsAre("hv.cfg:4:18: memory_current = 0 MiB is below the balloon floor of 4 MiB for memory = 8 MiB "
                          "(1/16, at least 4 MiB; docs/balloon.md)"));
  // 100 MiB: the floor is 6.25 MiB, so 6 is below it and 7 is not.
  EXPECT_EQ(config_errors("[vm a]\nimage = a\nmemory = 100\nmemory_current = 6\n").size(), 1u);
  EXPECT_TRUE(config_errors("[vm a]\nimage = a\nmemory = 100\nmemory_current = 7\n").empty());
}

TEST(ConfigErrors, MemoryCurrentValuesAndPlaces) {
  EXPECT_THAT(vm_line_errors("memory_current = 64x"),
              ElementsAre("hv.cfg:4:18: expected a number of MiB (the VM's start size, at most its memory), got \"64x\""));
  EXPECT_THAT(vm_line_errors("memory_current ="),
              ElementsAre("hv.cfg:4:17: expected a number of MiB (the VM's start size, at most its memory), got nothing"));
  EXPECT_THAT(vm_line_errors("memory_current = 65537"),
              ElementsAre("hv.cfg:4:18: expected a number of MiB (the VM's start size, at most its memory), got \"65537\""));
  const auto dup = parse_text("[vm a]\nmemory = 8\nmemory_current = 4\nimage = a\nmemory_current = 99\n");
  EXPECT_THAT(dup.messages, ElementsAre("hv.cfg:5:1: duplicate key \"memory_current\" (first set on line 3)"));
  EXPECT_EQ(dup.vm(0).memory_current_mib, 4u);
  EXPECT_THAT(config_errors("memory_current = 4\n"),
              ElementsAre("hv.cfg:1:1: \"memory_current\" belongs to a VM: put it in a [vm NAME] section"));
  // No range check when memory is missing or bad: that is reported once, on its own.
  EXPECT_THAT(config_errors("[vm a]\nimage = a\nmemory_current = 9999\n"),
              ElementsAre("hv.cfg:1:1: VM \"a\" has no \"memory\" (required: memory = MiB, 2..65536)"));
  EXPECT_THAT(config_errors("[vm a]\nimage = a\nmemory_current = 9999\nmemory = lots\n"),
              ElementsAre("hv.cfg:4:10: expected a number of MiB (2..65536), got \"lots\""));
}

TEST(ConfigErrors, AutoBalloonIsOnOrOffAndGlobal) {
  const auto p = parse_text("auto_balloon = yes\n[vm a]\nmemory = 8\nimage = a\n");
  EXPECT_THAT(p.messages, ElementsAre("hv.cfg:1:16: expected on or off, got \"yes\""));
  EXPECT_TRUE(p.config->globals.auto_balloon) << "a bad global keeps its default";
  EXPECT_TRUE(p.vm(0).valid);
  EXPECT_THAT(vm_line_errors("auto_balloon = off"),
              ElementsAre("hv.cfg:4:1: \"auto_balloon\" is a global setting: put it before the first [vm NAME] section"));
}

} // namespace
} // namespace hv
