#!/usr/bin/env python3
"""tests/tools/test_check_layers.py - the layer check itself: it passes a tree that keeps the rules
and fails each kind of back-running include (and <efi.h> or inline assembly in the wrong place)."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import check_layers  # noqa: E402


def make_tree(files):
    root = tempfile.mkdtemp(prefix="layers-")
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return root


GOOD = {
    "arch/x86/types.hpp": "#pragma once\n",
    "arch/x86/native/cpu.hpp": '#include "arch/x86/types.hpp"\ninline void f() { asm volatile("pause"); }\n',
    "lib/log.hpp": '#include "arch/x86/types.hpp"\n',
    "mm/ept.hpp": '#include "lib/log.hpp"\n#include "arch/x86/types.hpp"\n#include <atomic>\n',
    "devices/uart.hpp": '#include "mm/ept.hpp"\n',
    "vmx/exit.cpp": '#include "devices/uart.hpp"\n#include "mm/ept.hpp"\n// asm ("not code")\n',
    "core/vm.cpp": '#include "vmx/exit.cpp"\n',
    "boot/main.cpp": '#include <efi.h>\n#include "core/vm.cpp"\n',
}


class CheckLayers(unittest.TestCase):
    def check(self, extra):
        files = dict(GOOD)
        files.update(extra)
        return check_layers.check_tree(make_tree(files))

    def test_good_tree_passes(self):
        problems, count = self.check({})
        self.assertEqual(problems, [])
        self.assertEqual(count, len(GOOD))

    def test_mm_including_core_fails(self):
        problems, _ = self.check({"mm/guest_memory.hpp": '#include "core/spinlock.hpp"\n'})
        self.assertEqual(len(problems), 1)
        self.assertIn("mm/guest_memory.hpp:1", problems[0])
        self.assertIn("core/spinlock.hpp", problems[0])

    def test_mm_including_vmx_or_devices_fails(self):
        problems, _ = self.check({"mm/a.cpp": '#include "vmx/vcpu.hpp"\n#include "devices/io_bus.hpp"\n'})
        self.assertEqual(len(problems), 2)

    def test_lib_and_arch_including_upwards_fail(self):
        problems, _ = self.check({"lib/x.cpp": '#include "mm/ept.hpp"\n',
                                  "arch/x86/fake/fake_vmcs.hpp": '#include "vmx/vmcs.hpp"\n'})
        self.assertEqual(sorted(p.split(":")[0] for p in problems), ["arch/x86/fake/fake_vmcs.hpp", "lib/x.cpp"])

    def test_devices_including_vmx_fails(self):
        problems, _ = self.check({"devices/hypercall.cpp": '#  include "vmx/vcpu.hpp"\n'})
        self.assertEqual(len(problems), 1)

    def test_efi_header_outside_boot_fails(self):
        problems, _ = self.check({"core/x.cpp": "#include <efi.h>\n"})
        self.assertEqual(len(problems), 1)
        self.assertIn("only boot/", problems[0])

    def test_inline_assembly_outside_arch_fails(self):
        problems, _ = self.check({"vmx/y.cpp": 'void g() { __asm__ __volatile__("hlt"); }\n'})
        self.assertEqual(len(problems), 1)
        self.assertIn("inline assembly", problems[0])

    def test_main_exit_status(self):
        root = make_tree(dict(GOOD, **{"mm/bad.hpp": '#include "core/vm.hpp"\n'}))
        self.assertEqual(check_layers.main(["check_layers.py", root]), 1)
        self.assertEqual(check_layers.main(["check_layers.py", make_tree(GOOD)]), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
