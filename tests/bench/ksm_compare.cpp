// tests/bench/ksm_compare.cpp - Linux ksmd on the merger benchmark's workload, for a side-by-side
// figure (hosted tool, root only; never part of the test run). It fills 512 MiB of anonymous
// memory exactly as BM_merge_pass does (page i a duplicate of content i % 8 when i % 100 <
// PERCENT, else unique), marks it MADV_MERGEABLE, lets ksmd run with a large pages_to_scan and no
// sleep, and reports full passes and ksmd's CPU time (from /proc/PID/stat) until every duplicate
// is merged. Every knob it touches is written back afterwards (run = 2 to unmerge, then the old
// values), also when it is interrupted.
//   usage: hv_ksm_compare [PERCENT] [PAGES_TO_SCAN]      (defaults 50, 20000)
#include <sys/mman.h>
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <map>
#include <string>
#include <thread>

namespace {

const std::string ksm = "/sys/kernel/mm/ksm/";
std::map<std::string, std::string> saved;

std::string read_knob(const std::string& name) {
  std::ifstream f(ksm + name);
  std::string v;
  std::getline(f, v);
  return v;
}
bool write_knob(const std::string& name, const std::string& value) {
  std::ofstream f(ksm + name);
  f << value;
  f.flush();
  return static_cast<bool>(f);
}
unsigned long long number(const std::string& name) { return std::strtoull(read_knob(name).c_str(), nullptr, 10); }

void restore() {
  if (saved.empty()) return;
  write_knob("run", "2");  // unmerge everything first: the other knobs may then change
  for (int i = 0; i < 600 && number("pages_shared") != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (const auto& [k, v] : saved)
    if (k != "run") write_knob(k, v);
  write_knob("run", saved["run"]);
  saved.clear();
}

void on_signal(int) {
  restore();
  std::_Exit(1);
}

// ksmd's user + system time in seconds.
double ksmd_cpu_seconds() {
  DIR* d = opendir("/proc");
  if (!d) return -1;
  double result = -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream comm(std::string("/proc/") + e->d_name + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name != "ksmd") continue;
    std::ifstream stat(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    char state;
    unsigned long long f[20] = {};
    std::sscanf(line.c_str() + close + 2, "%c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &state, &f[0], &f[1], &f[2],
                &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10], &f[11]);
    result = static_cast<double>(f[10] + f[11]) / static_cast<double>(sysconf(_SC_CLK_TCK));  // utime, stime
    break;
  }
  closedir(d);
  return result;
}

void fill_pattern(unsigned long long* page, unsigned long long seed) {
  unsigned long long x = seed * 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 512; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    page[i] = x;
  }
}

} // namespace

int main(int argc, char** argv) {
  const unsigned percent = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 50;
  const std::string pages_to_scan = argc > 2 ? argv[2] : "20000";
  if (access((ksm + "run").c_str(), W_OK) != 0) {
    std::fprintf(stderr, "hv_ksm_compare: %srun is not writable (needs root and a kernel with KSM)\n", ksm.c_str());
    return 2;
  }
  for (const char* k : {"run", "pages_to_scan", "sleep_millisecs", "max_page_sharing", "merge_across_nodes", "use_zero_pages"})
    saved[k] = read_knob(k);
  if (access((ksm + "smart_scan").c_str(), R_OK) == 0) saved["smart_scan"] = read_knob("smart_scan");
  if (access((ksm + "advisor_mode").c_str(), R_OK) == 0) {
    const std::string a = read_knob("advisor_mode");  // "[none] scan-time": keep the bracketed word
    const auto l = a.find('['), r = a.find(']');
    if (l != std::string::npos && r != std::string::npos) saved["advisor_mode"] = a.substr(l + 1, r - l - 1);
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  constexpr unsigned long long bytes = 512ull << 20, pages = bytes / 4096;
  auto* mem = static_cast<unsigned char*>(mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (mem == MAP_FAILED) return 2;
  madvise(mem, bytes, MADV_NOHUGEPAGE);
  unsigned long long dups[8] = {};
  for (unsigned long long i = 0; i < pages; ++i) {
    const bool dup = (i % 100) < percent;
    fill_pattern(reinterpret_cast<unsigned long long*>(mem + i * 4096), dup ? 1 + i % 8 : 1'000'000 + i);
    if (dup) ++dups[i % 8];
  }
  unsigned long long ideal = 0;
  for (auto d : dups) ideal += d - (d + 255) / 256;

  write_knob("run", "0");
  write_knob("smart_scan", "0");  // every page every pass, as ours
  write_knob("advisor_mode", "none");
  write_knob("pages_to_scan", pages_to_scan);
  write_knob("sleep_millisecs", "0");
  write_knob("max_page_sharing", "256");
  const unsigned long long scans0 = number("full_scans");
  if (madvise(mem, bytes, MADV_MERGEABLE) != 0) {
    std::perror("madvise(MADV_MERGEABLE)");
    restore();
    return 2;
  }
  const double cpu0 = ksmd_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  write_knob("run", "1");
  unsigned long long last_scans = scans0;
  std::printf("ksmd on %llu pages, %u%% duplicates (ideal pages_sharing %llu), pages_to_scan %s, sleep 0\n", pages, percent,
              ideal, pages_to_scan.c_str());
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const unsigned long long scans = number("full_scans"), sharing = number("pages_sharing");
    if (scans != last_scans) {
      std::printf("  pass %llu done: pages_sharing %llu (%.1f%% of ideal), ksmd CPU %.2f s\n", scans - scans0, sharing,
                  100.0 * static_cast<double>(sharing) / static_cast<double>(ideal), ksmd_cpu_seconds() - cpu0);
      last_scans = scans;
    }
    if (sharing >= ideal || std::chrono::steady_clock::now() - t0 > std::chrono::seconds(120)) break;
  }
  const double cpu = ksmd_cpu_seconds() - cpu0;
  const unsigned long long sharing = number("pages_sharing");
  std::printf("ksmd: pages_sharing %llu of %llu after %llu full scans (+ the pass in progress), ksmd CPU %.2f s: "
              "%.0f merges per CPU-second\n",
              sharing, ideal, number("full_scans") - scans0, cpu, static_cast<double>(sharing) / cpu);
  restore();
  munmap(mem, bytes);
  std::printf("knobs put back: run=%s pages_to_scan=%s sleep_millisecs=%s\n", read_knob("run").c_str(),
              read_knob("pages_to_scan").c_str(), read_knob("sleep_millisecs").c_str());
  return 0;
}
