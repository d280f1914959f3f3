#include "pagekv/sim/default_workload.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "fmt/format.h"
#include "sim/workload/readers.h"

namespace pagekv {
namespace {

using internal::NamespacedContentId;

// Random draws from the raw bits of mt19937_64 (whose output sequence the
// standard fixes), never std::*_distribution (whose results differ between
// standard libraries).
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  // Uniform in [lo, hi]. REQUIRES: lo <= hi. Modulo bias < 2^-32 here.
  int64_t UniformInt(int64_t lo, int64_t hi) {
    const uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
    return lo + static_cast<int64_t>(engine_() % range);
  }

  // Exponential with the given mean.
  double Exponential(double mean) { return -mean * std::log1p(-Uniform()); }

  // Exponential with the given mean, rounded and clamped to [lo, hi].
  int32_t ClampedExponential(double mean, int32_t lo, int32_t hi) {
    const double x = std::round(Exponential(mean));
    return static_cast<int32_t>(
        std::clamp(x, static_cast<double>(lo), static_cast<double>(hi)));
  }

 private:
  std::mt19937_64 engine_;
};

struct Conversation {
  std::vector<PromptSegment> segments;  // the last turn's prompt
  int64_t prompt_tokens = 0;
  int32_t last_output = 0;  // tokens of the last turn's answer
  double last_arrival_s = 0;
};

constexpr size_t kMaxOpenConversations = 256;

int64_t SumTokens(const std::vector<PromptSegment>& segments) {
  int64_t total = 0;
  for (const PromptSegment& s : segments) total += s.num_tokens;
  return total;
}

absl::Status Check(bool ok, std::string_view field, double value,
                   std::string_view requirement) {
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format(
      "DefaultWorkloadOptions.{} = {}: must be {}", field, value, requirement));
}

}  // namespace

absl::Status DefaultWorkloadOptions::Validate() const {
  const DefaultWorkloadOptions& o = *this;
  const absl::Status checks[] = {
      Check(o.num_requests >= 1, "num_requests", o.num_requests, ">= 1"),
      Check(o.arrival_rate_per_s > 0 && std::isfinite(o.arrival_rate_per_s),
            "arrival_rate_per_s", o.arrival_rate_per_s, "finite and > 0"),
      Check(o.rag_fraction >= 0 && o.rag_fraction <= 1, "rag_fraction",
            o.rag_fraction, "in [0, 1]"),
      Check(o.followup_fraction >= 0 && o.followup_fraction <= 1,
            "followup_fraction", o.followup_fraction, "in [0, 1]"),
      Check(o.min_think_time_s >= 0 && std::isfinite(o.min_think_time_s),
            "min_think_time_s", o.min_think_time_s, "finite and >= 0"),
      Check(o.num_system_prompts >= 1, "num_system_prompts",
            o.num_system_prompts, ">= 1"),
      Check(o.system_prompt_min_tokens >= 1, "system_prompt_min_tokens",
            o.system_prompt_min_tokens, ">= 1"),
      Check(o.system_prompt_max_tokens >= o.system_prompt_min_tokens,
            "system_prompt_max_tokens", o.system_prompt_max_tokens,
            ">= system_prompt_min_tokens"),
      Check(o.chat_message_mean_tokens >= 1, "chat_message_mean_tokens",
            o.chat_message_mean_tokens, ">= 1"),
      Check(o.chat_output_mean_tokens >= 1, "chat_output_mean_tokens",
            o.chat_output_mean_tokens, ">= 1"),
      Check(o.num_documents >= 1, "num_documents", o.num_documents, ">= 1"),
      Check(o.rag_system_prompt_tokens >= 1, "rag_system_prompt_tokens",
            o.rag_system_prompt_tokens, ">= 1"),
      Check(o.document_min_tokens >= 1, "document_min_tokens",
            o.document_min_tokens, ">= 1"),
      Check(o.document_max_tokens >= o.document_min_tokens,
            "document_max_tokens", o.document_max_tokens,
            ">= document_min_tokens"),
      Check(o.question_mean_tokens >= 1, "question_mean_tokens",
            o.question_mean_tokens, ">= 1"),
      Check(o.rag_output_mean_tokens >= 1, "rag_output_mean_tokens",
            o.rag_output_mean_tokens, ">= 1"),
      Check(o.chat_priority >= kMinPriority && o.chat_priority <= kMaxPriority,
            "chat_priority", o.chat_priority, "in [0, 100]"),
      Check(o.rag_priority >= kMinPriority && o.rag_priority <= kMaxPriority,
            "rag_priority", o.rag_priority, "in [0, 100]"),
  };
  for (const absl::Status& s : checks) {
    if (!s.ok()) return s;
  }
  // Messages and questions are clamped to 8x their mean; the longest prompt
  // of each kind plus one output token must fit.
  const int64_t longest_rag = int64_t{o.rag_system_prompt_tokens} +
                              o.document_max_tokens +
                              8 * int64_t{o.question_mean_tokens} + 1;
  const int64_t longest_chat = int64_t{o.system_prompt_max_tokens} +
                               8 * int64_t{o.chat_message_mean_tokens} + 1;
  const int64_t needed = std::max(longest_rag, longest_chat);
  if (o.max_sequence_tokens < needed) {
    return absl::InvalidArgumentError(fmt::format(
        "DefaultWorkloadOptions.max_sequence_tokens = {}: must be >= {} (the "
        "longest first-turn prompt + 1: system prompt or RAG system prompt + "
        "document, plus 8x the mean message or question)",
        o.max_sequence_tokens, needed));
  }
  return absl::OkStatus();
}

namespace {

// Draws the default workload's requests one by one. The order of the
// random draws is part of the output: the same seed gives the same trace.
class DefaultWorkloadBuilder {
 public:
  explicit DefaultWorkloadBuilder(const DefaultWorkloadOptions& o)
      : o_(o), rng_(o.seed) {
    // Content namespaces derived from the seed: different seeds, different
    // texts.
    const uint64_t seed_ns =
        workload_internal::Mix64(o.seed ^ 0x64656661756c74ULL);
    const uint64_t system_ns = seed_ns ^ 0x73797374656dULL;  // "system"
    const uint64_t document_ns = seed_ns ^ 0x646f63ULL;      // "doc"
    unique_ns_ = seed_ns ^ 0x756e69ULL;                      // "uni"
    for (int32_t i = 0; i < o.num_system_prompts; ++i) {
      system_prompts_.push_back(
          {NamespacedContentId(system_ns, static_cast<uint64_t>(i)),
           static_cast<int32_t>(rng_.UniformInt(o.system_prompt_min_tokens,
                                                o.system_prompt_max_tokens))});
    }
    rag_system_prompt_ = {
        NamespacedContentId(system_ns,
                            static_cast<uint64_t>(o.num_system_prompts)),
        o.rag_system_prompt_tokens};
    for (int32_t i = 0; i < o.num_documents; ++i) {
      documents_.push_back(
          {NamespacedContentId(document_ns, static_cast<uint64_t>(i)),
           static_cast<int32_t>(
               rng_.UniformInt(o.document_min_tokens, o.document_max_tokens))});
    }
  }

  Workload Build() {
    Workload workload;
    workload.name = "default";
    workload.requests.reserve(static_cast<size_t>(o_.num_requests));
    double now = 0;
    const double mean_gap_s = 1.0 / o_.arrival_rate_per_s;
    for (int32_t i = 0; i < o_.num_requests; ++i) {
      now += rng_.Exponential(mean_gap_s);
      Request& r = workload.requests.emplace_back();
      r.id = static_cast<uint64_t>(i);
      r.arrival_s = now;
      Conversation* conversation = nullptr;  // the chat turn's conversation
      int32_t output_mean = 0;
      if (rng_.Uniform() < o_.rag_fraction) {
        RagTurn(&r);
        output_mean = o_.rag_output_mean_tokens;
      } else {
        conversation = ChatTurn(now, &r);
        output_mean = o_.chat_output_mean_tokens;
      }
      const int64_t prompt = SumTokens(r.segments);
      // Validate() guarantees room for at least one output token.
      const auto room = static_cast<int32_t>(o_.max_sequence_tokens - prompt);
      r.output_tokens = rng_.ClampedExponential(
          output_mean, 1, std::min(8 * output_mean, room));
      if (conversation != nullptr) {
        conversation->segments = r.segments;
        conversation->prompt_tokens = prompt;
        conversation->last_output = r.output_tokens;
        conversation->last_arrival_s = now;
      }
    }
    return workload;
  }

 private:
  PromptSegment UniqueSegment(int32_t tokens) {
    return PromptSegment{NamespacedContentId(unique_ns_, next_unique_++),
                         tokens};
  }

  // A question about a document, behind the RAG system prompt.
  void RagTurn(Request* r) {
    // Squaring a uniform favours low indices: a few popular documents.
    const double u = rng_.Uniform();
    const auto doc = static_cast<size_t>(u * u * o_.num_documents);
    r->segments = {
        rag_system_prompt_, documents_[doc],
        UniqueSegment(rng_.ClampedExponential(o_.question_mean_tokens, 1,
                                              8 * o_.question_mean_tokens))};
    r->priority = o_.rag_priority;
  }

  // A chat message: the next turn of an open conversation, or the first
  // turn of a new one. Returns the conversation the turn belongs to.
  Conversation* ChatTurn(double now, Request* r) {
    r->priority = o_.chat_priority;
    const bool followup = rng_.Uniform() < o_.followup_fraction;
    const int32_t message = rng_.ClampedExponential(
        o_.chat_message_mean_tokens, 1, 8 * o_.chat_message_mean_tokens);
    Conversation* conversation = nullptr;
    if (followup && !open_.empty()) {
      const auto k = static_cast<size_t>(
          rng_.UniformInt(0, static_cast<int64_t>(open_.size()) - 1));
      Conversation& c = open_[k];
      const int64_t extended = c.prompt_tokens + c.last_output + message;
      if (extended + 1 > o_.max_sequence_tokens) {
        // Full context: the conversation ends, this turn starts anew.
        open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(k));
      } else if (c.last_arrival_s + o_.min_think_time_s <= now) {
        // The next turn: the previous prompt, its answer, a new message.
        r->segments = c.segments;
        r->segments.push_back(UniqueSegment(c.last_output));
        conversation = &c;
      }
    }
    if (conversation == nullptr) {
      const auto k =
          static_cast<size_t>(rng_.UniformInt(0, o_.num_system_prompts - 1));
      r->segments = {system_prompts_[k]};
      if (open_.size() == kMaxOpenConversations) open_.erase(open_.begin());
      conversation = &open_.emplace_back();
    }
    r->segments.push_back(UniqueSegment(message));
    return conversation;
  }

  const DefaultWorkloadOptions& o_;
  Random rng_;
  uint64_t unique_ns_ = 0;
  uint64_t next_unique_ = 0;
  std::vector<PromptSegment> system_prompts_;
  PromptSegment rag_system_prompt_;
  std::vector<PromptSegment> documents_;
  std::vector<Conversation> open_;
};

}  // namespace

absl::StatusOr<Workload> MakeDefaultWorkload(
    const DefaultWorkloadOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  return DefaultWorkloadBuilder(options).Build();
}

}  // namespace pagekv
