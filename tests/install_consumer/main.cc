// Builds against the installed headers and library and runs one request.
#include <cstdio>
#include <vector>

#include "pagekv/kv_cache_manager.h"

int main() {
  pagekv::KVCacheConfig config;
  config.num_blocks = 64;
  auto manager = pagekv::KVCacheManager::Create(config);
  if (!manager.ok()) return 1;
  std::vector<pagekv::TokenId> prompt(40, 3);
  auto seq = (*manager)->AddSequence(prompt);
  if (!seq.ok() || !(*manager)->Admit(*seq, 40).ok()) return 1;
  std::printf(
      "consumer: %llu blocks in use\n",
      static_cast<unsigned long long>((*manager)->Stats().in_use_blocks));
  return (*manager)->Stats().in_use_blocks == 3 ? 0 : 1;
}
