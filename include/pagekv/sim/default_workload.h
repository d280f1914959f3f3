// The built-in default workload: a seeded mix of chat and RAG requests with
// Poisson arrivals, needing no files. It is what `pagekv simulate` runs when
// no trace is given.
//
// - Chat (short prompt, long output): one of `num_system_prompts` shared
//   system prompts, then a user message. A share of chat requests continue
//   an open conversation instead: the prompt is the previous turn's prompt,
//   its answer and a new user message, so it extends (shares the prefix of)
//   the previous turn.
// - RAG (long prompt, short output): a shared RAG system prompt, one of
//   `num_documents` shared documents (popular ones more often) and a unique
//   question.
//
// Token lengths are drawn from clamped exponential distributions computed
// from the raw bits of std::mt19937_64, so the same options give the same
// workload on every platform and standard library.
//
// Thread-safety: the generator shares no state between calls; the options
// are plain values.
#ifndef PAGEKV_SIM_DEFAULT_WORKLOAD_H_
#define PAGEKV_SIM_DEFAULT_WORKLOAD_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/sim/workload.h"

namespace pagekv {

// The defaults are sized for a Llama-3-8B-class model on one H100: about
// 2000 requests over ~3 minutes of simulated time, prompts within an 8k
// context, with enough shared prefixes that prefix caching matters.
struct DefaultWorkloadOptions {
  uint64_t seed = 1;
  int32_t num_requests = 2000;       // >= 1
  double arrival_rate_per_s = 12.0;  // > 0, mean of the Poisson process

  double rag_fraction = 0.3;       // [0, 1]: share of RAG requests
  double followup_fraction = 0.5;  // [0, 1]: share of chat requests that
                                   // continue an open conversation
  double min_think_time_s = 5.0;   // >= 0: a follow-up arrives at least this
                                   // long after its conversation's last turn

  // Chat.
  int32_t num_system_prompts = 4;          // >= 1
  int32_t system_prompt_min_tokens = 200;  // 1 <= min <= max
  int32_t system_prompt_max_tokens = 1200;
  int32_t chat_message_mean_tokens = 150;  // >= 1
  int32_t chat_output_mean_tokens = 400;   // >= 1

  // RAG.
  int32_t num_documents = 32;              // >= 1
  int32_t rag_system_prompt_tokens = 300;  // >= 1
  int32_t document_min_tokens = 1000;      // 1 <= min <= max
  int32_t document_max_tokens = 6000;
  int32_t question_mean_tokens = 60;     // >= 1
  int32_t rag_output_mean_tokens = 120;  // >= 1

  int32_t chat_priority = 50;  // kMinPriority..kMaxPriority
  int32_t rag_priority = 30;   // kMinPriority..kMaxPriority

  // Every prompt + output fits this (a follow-up that would not starts a
  // new conversation). Must leave room for the longest RAG prompt plus one
  // output token and for a system prompt plus a short chat turn.
  int32_t max_sequence_tokens = 8192;

  // Returns OK when every field is in range (see the comments), otherwise
  // InvalidArgument naming the field and value.
  absl::Status Validate() const;
};

// Returns the workload for `options` (named "default"); the same options
// always give the same workload. Returns InvalidArgument when
// options.Validate() fails.
absl::StatusOr<Workload> MakeDefaultWorkload(
    const DefaultWorkloadOptions& options = {});

}  // namespace pagekv

#endif  // PAGEKV_SIM_DEFAULT_WORKLOAD_H_
