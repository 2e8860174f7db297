// Linked into every fuzz target. With RINGPORT_FUZZ_SEEDS=<dir> set, writes the
// target's seeds() into <dir> as seed-<n>; libFuzzer calls LLVMFuzzerInitialize before
// it reads its corpus directories, so scripts/fuzz.js passes the same <dir> as corpus.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_harness.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = std::getenv("RINGPORT_FUZZ_SEEDS");
  if (dir == nullptr) return 0;
  const std::vector<ringport::fuzz::Bytes> seeds = ringport::fuzz::seeds();
  for (size_t i = 0; i < seeds.size(); ++i) {
    const std::string path = std::string(dir) + "/seed-" + std::to_string(i);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) ringport::fuzz::fail("cannot write a seed file");
    std::fwrite(seeds[i].data(), 1, seeds[i].size(), f);
    std::fclose(f);
  }
  return 0;
}
