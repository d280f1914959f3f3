// Read-only views of a KVCacheManager: block tables in the layouts kernels
// consume, step footprints for the cost hook, and statistics.
#include "core/check.h"
#include "core/manager_state.h"
#include "fmt/format.h"
#include "pagekv/block_math.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv {

using internal::Sequence;

namespace {

absl::Status CheckGroup(GroupId group, int32_t num_groups) {
  if (group.value() >= static_cast<uint32_t>(num_groups)) {
    return absl::InvalidArgumentError(
        fmt::format("group {} does not exist; the manager has {} groups",
                    group.value(), num_groups));
  }
  return absl::OkStatus();
}

struct CsrPages {
  int64_t begin = 0;
  int64_t end = 0;
  int32_t last_page_len = 0;
};

// The CSR pages of a sequence in a group: [begin, end) of its table and the
// tokens in the last page. Attention kinds: the non-null pages holding
// computed tokens. A state group: its state block and speculative blocks,
// each one whole state (last_page_len 1).
CsrPages PagesOf(const internal::ManagerState& st, const Sequence& s,
                 uint32_t group) {
  const int64_t bs = st.config.block_size;
  CsrPages p;
  p.begin = s.dropped[group];
  if (st.groups[group].is_state()) {
    p.end = static_cast<int64_t>(s.tables[group].size());
    p.last_page_len = p.end > p.begin ? 1 : 0;
    return p;
  }
  const int64_t pages = BlocksForTokens(s.num_computed(), bs);
  p.begin = std::min<int64_t>(pages, p.begin);
  p.end = pages;
  p.last_page_len =
      s.num_computed() == 0
          ? 0
          : static_cast<int32_t>(s.num_computed() - (pages - 1) * bs);
  return p;
}

}  // namespace

absl::StatusOr<int64_t> KVCacheManager::NumKnownTokens(SeqId seq) const {
  auto s = state_->Lookup(seq);
  if (!s.ok()) return s.status();
  return (*s)->num_known();
}

absl::StatusOr<int64_t> KVCacheManager::NumComputedTokens(SeqId seq) const {
  auto s = state_->Lookup(seq);
  if (!s.ok()) return s.status();
  return (*s)->num_computed();
}

absl::StatusOr<absl::Span<const BlockId>> KVCacheManager::BlockTable(
    SeqId seq, GroupId group) const {
  if (absl::Status st = CheckGroup(group, num_groups()); !st.ok()) return st;
  auto s = state_->Lookup(seq);
  if (!s.ok()) return s.status();
  return absl::MakeConstSpan((*s)->tables[group.value()]);
}

absl::Status KVCacheManager::ExportBlockTable(absl::Span<const SeqId> seqs,
                                              GroupId group, int32_t row_width,
                                              absl::Span<int32_t> out) const {
  if (absl::Status st = CheckGroup(group, num_groups()); !st.ok()) return st;
  if (row_width < 0 || out.size() < seqs.size() * size_t(row_width)) {
    return absl::InvalidArgumentError(
        fmt::format("block table output holds {} entries, {} rows of {} needed",
                    out.size(), seqs.size(), row_width));
  }
  std::vector<const Sequence*> rows;
  rows.reserve(seqs.size());
  for (SeqId seq : seqs) {
    auto s = state_->Lookup(seq);
    if (!s.ok()) return s.status();
    const size_t width = (*s)->tables[group.value()].size();
    if (width > size_t(row_width)) {
      return absl::InvalidArgumentError(
          fmt::format("sequence {} has {} blocks, wider than row_width {}",
                      seq.value(), width, row_width));
    }
    rows.push_back(*s);
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::vector<BlockId>& table = rows[r]->tables[group.value()];
    int32_t* row = out.data() + r * size_t(row_width);
    size_t i = 0;
    for (; i < table.size(); ++i)
      row[i] = static_cast<int32_t>(table[i].value());
    for (; i < size_t(row_width); ++i) row[i] = 0;
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> KVCacheManager::ExportCsr(
    absl::Span<const SeqId> seqs, GroupId group, absl::Span<int32_t> indptr,
    absl::Span<int32_t> indices, absl::Span<int32_t> last_page_len) const {
  if (absl::Status st = CheckGroup(group, num_groups()); !st.ok()) return st;
  if (indptr.size() < seqs.size() + 1 || last_page_len.size() < seqs.size()) {
    return absl::InvalidArgumentError(
        fmt::format("CSR output too small for {} sequences: indptr holds {}, "
                    "last_page_len {}",
                    seqs.size(), indptr.size(), last_page_len.size()));
  }
  // First pass: validate and size, so a failure writes nothing.
  int64_t total = 0;
  std::vector<const Sequence*> rows;
  rows.reserve(seqs.size());
  for (SeqId seq : seqs) {
    auto s = state_->Lookup(seq);
    if (!s.ok()) return s.status();
    const CsrPages p = PagesOf(*state_, **s, group.value());
    total += p.end - p.begin;
    rows.push_back(*s);
  }
  if (indices.size() < size_t(total)) {
    return absl::InvalidArgumentError(fmt::format(
        "CSR indices hold {} entries, {} pages needed", indices.size(), total));
  }
  int64_t n = 0;
  indptr[0] = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const Sequence& s = *rows[r];
    const std::vector<BlockId>& table = s.tables[group.value()];
    const CsrPages p = PagesOf(*state_, s, group.value());
    for (int64_t j = p.begin; j < p.end; ++j) {
      indices[n++] = static_cast<int32_t>(table[j].value());
    }
    indptr[r + 1] = static_cast<int32_t>(n);
    last_page_len[r] = p.last_page_len;
  }
  return n;
}

absl::Status KVCacheManager::AddToFootprint(SeqId seq, int32_t new_tokens,
                                            StepFootprint* footprint) const {
  auto s = state_->Lookup(seq);
  if (!s.ok()) return s.status();
  const Sequence& sq = **s;
  if (new_tokens < 0 || new_tokens > sq.num_computed()) {
    return absl::InvalidArgumentError(fmt::format(
        "sequence {} has {} computed tokens; {} cannot be new this step",
        seq.value(), sq.num_computed(), new_tokens));
  }
  const int64_t bs = block_size();
  const int64_t end = sq.num_computed();
  const int64_t first_new = end - new_tokens;
  SequenceFootprint fp;
  fp.seq = seq;
  fp.new_tokens = new_tokens;
  fp.cached_tokens = first_new;
  fp.is_prefill = first_new < sq.num_known() && new_tokens > 1;
  for (const internal::Group& group : state_->groups) {
    fp.groups.push_back(MakeGroupFootprint(group.spec, end, new_tokens, bs));
  }
  footprint->block_size = block_size();
  footprint->sequences.push_back(std::move(fp));
  return absl::OkStatus();
}

KVCacheStats KVCacheManager::Stats() const {
  const internal::ManagerState& st = *state_;
  KVCacheStats stats;
  stats.block_size = block_size();
  stats.total_blocks = st.pool->num_blocks();
  stats.free_blocks = st.pool->NumFree();
  stats.cached_blocks = st.pool->NumCached();
  stats.in_use_blocks = st.pool->NumInUse();
  stats.num_sequences = st.seqs.num_live();
  stats.used_token_slots = st.fills.used_slots();
  stats.empty_token_slots =
      stats.in_use_blocks * uint64_t(block_size()) - st.fills.used_slots();
  stats.blocks_allocated = st.blocks_allocated;
  stats.evictions = st.pool->num_evictions();
  stats.cow_copies = st.cow_copies;
  stats.allocation_failures = st.allocation_failures;
  stats.prefix = st.prefix_stats;
  if (st.host != nullptr) stats.host_tier = st.host->Stats();
  stats.index_bytes_per_block =
      st.config.enable_prefix_caching
          ? internal::PrefixIndex::BytesPerBlock(block_size()) *
                st.groups.size()
          : 0;
  return stats;
}

}  // namespace pagekv
