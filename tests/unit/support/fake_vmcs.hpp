// tests/unit/support/fake_vmcs.hpp - a VMCS whose fields are a map: the hosted twin of Native_vmcs.
// Hosted build only (tests). Reading a field never written returns 0 and is recorded.
#pragma once
#include "vmx/vmcs.hpp"
#include <map>
#include <vector>

namespace hv {

class Fake_vmcs final : public Vmcs_access {
public:
  u64 read(u32 field) override {
    auto it = fields.find(field);
    if (it == fields.end()) {
      unwritten_reads.push_back(field);
      return 0;
    }
    return it->second;
  }
  void write(u32 field, u64 value) override { fields[field] = value; ++writes; }
  [[nodiscard]] bool has(u32 field) const { return fields.count(field) != 0; }

  std::map<u32, u64> fields;
  std::vector<u32> unwritten_reads;
  u64 writes = 0;
};

} // namespace hv
