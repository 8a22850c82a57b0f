#!/usr/bin/env python3
"""scripts/check_layers.py - the dependency rules of docs/architecture.md, checked over the sources.

    boot -> core -> vmx -> devices -> mm -> lib -> arch

A folder may include its own files and those of the folders below it, never one above: `mm/` never
sees `vmx/` or `devices/`, and nothing below `core/` includes `core/`. Two more rules of the design:
only `boot/` includes <efi.h>, and only `arch/` holds inline assembly. `tests/` and `scripts/` may
use everything and are not checked.

Usage: check_layers.py [ROOT]   (default: the repository this script is in)
Prints one line per broken rule (file:line: what and why) and exits 1, or prints a summary and
exits 0. The rules are data (LAYERS below) so that a change of the map is one line here.
"""
import os
import re
import sys

# Each checked folder and the project folders it may include from (besides itself).
LAYERS = {
    "arch": [],
    "lib": ["arch"],
    "mm": ["lib", "arch"],
    "devices": ["mm", "lib", "arch"],
    "vmx": ["devices", "mm", "lib", "arch"],
    "core": ["vmx", "devices", "mm", "lib", "arch"],
    "boot": ["core", "vmx", "devices", "mm", "lib", "arch"],
}
SOURCE_ENDINGS = (".cpp", ".hpp", ".h", ".cc", ".S")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
# An asm statement (GNU spelling), not the word inside a comment or string.
ASM = re.compile(r'(^|[^\w"])(__asm__|asm)\s*(volatile|goto|__volatile__)?\s*\(')


def strip_comment(line):
    """The code part of a line (drops // comments; good enough for include and asm lines)."""
    cut = line.find("//")
    return line if cut < 0 else line[:cut]


def check_file(root, rel):
    """The broken rules of one source file, as 'file:line: message' strings."""
    top = rel.split("/", 1)[0]
    allowed = set(LAYERS[top]) | {top}
    problems = []
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                target = m.group(2)
                if m.group(1) == "<" and (target == "efi.h" or target.startswith("efi/") or target == "efilib.h"):
                    if top != "boot":
                        problems.append(f"{rel}:{number}: includes <{target}>: only boot/ may include the UEFI headers")
                    continue
                if m.group(1) == '"':
                    folder = target.split("/", 1)[0]
                    if folder in LAYERS and folder not in allowed:
                        problems.append(
                            f"{rel}:{number}: includes \"{target}\": {top}/ may include only "
                            f"{', '.join(sorted(allowed))} ({top}/ is below {folder}/)")
                continue
            if top != "arch" and not rel.endswith(".S") and ASM.search(strip_comment(line)):
                problems.append(f"{rel}:{number}: inline assembly outside arch/: give arch/ a function for it")
    return problems


def source_files(root):
    for top in LAYERS:
        base = os.path.join(root, top)
        for directory, _, files in os.walk(base):
            for name in sorted(files):
                if name.endswith(SOURCE_ENDINGS):
                    yield os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/")


def check_tree(root):
    problems, count = [], 0
    for rel in source_files(root):
        count += 1
        problems.extend(check_file(root, rel))
    return problems, count


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems, count = check_tree(root)
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} broken rule(s) in {count} files (see docs/architecture.md)")
        return 1
    if count == 0:
        print(f"check_layers: no sources under {root}")
        return 1
    print(f"check_layers: {count} files follow boot -> core -> vmx -> devices -> mm -> lib -> arch")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
