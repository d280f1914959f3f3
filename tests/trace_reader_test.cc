#include "pagekv/sim/trace_reader.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pagekv {
namespace {

using ::testing::HasSubstr;

const std::string kSourceDir = PAGEKV_SOURCE_DIR;
const std::string kMooncakeTrace =
    kSourceDir + "/data/traces/mooncake/conversation_trace.jsonl";
const std::string kAzureTrace =
    kSourceDir + "/data/traces/azure2023/AzureLLMInferenceTrace_conv.csv";
const std::string kDataDir = kSourceDir + "/tests/data/traces/";

bool Exists(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f != nullptr) std::fclose(f);
  return f != nullptr;
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// ---- Real traces: the MANIFEST figures. ----

TEST(RealTraceTest, MooncakeConversationMatchesManifest) {
  ASSERT_TRUE(Exists(kMooncakeTrace))
      << "the shipped trace " << kMooncakeTrace << " is missing";
  absl::StatusOr<Workload> w = ReadWorkload(kMooncakeTrace);  // guessed
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->name, "conversation_trace");
  ASSERT_TRUE(w->Validate().ok()) << w->Validate();
  const WorkloadStats s = w->Stats();
  EXPECT_EQ(s.num_requests, 12031);
  EXPECT_EQ(std::lround(s.mean_prompt_tokens), 12035);
  EXPECT_EQ(std::lround(s.mean_output_tokens), 343);
  EXPECT_EQ(s.max_prompt_tokens, 126195);
  EXPECT_NEAR(s.duration_s, 3537, 1);

  // 288,500 blocks, 182,790 distinct; with an unlimited cache in file order,
  // 0.374 of prompt tokens hit a previously seen prefix.
  absl::flat_hash_set<uint64_t> seen;
  int64_t blocks = 0, hit_tokens = 0;
  for (const Request& r : w->requests) {
    bool prefix = true;
    for (const PromptSegment& seg : r.segments) {
      ++blocks;
      prefix = prefix && seen.contains(seg.content_id);
      if (prefix) hit_tokens += seg.num_tokens;
      seen.insert(seg.content_id);
    }
  }
  EXPECT_EQ(blocks, 288500);
  EXPECT_EQ(seen.size(), 182790u);
  EXPECT_NEAR(static_cast<double>(hit_tokens) / s.prompt_tokens, 0.374, 0.0015);
}

TEST(RealTraceTest, AzureConversationMatchesManifest) {
  ASSERT_TRUE(Exists(kAzureTrace))
      << "the shipped trace " << kAzureTrace << " is missing";
  absl::StatusOr<Workload> w = ReadWorkload(kAzureTrace, "azure");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE(w->Validate().ok()) << w->Validate();
  const WorkloadStats s = w->Stats();
  EXPECT_EQ(s.num_requests, 19366);
  EXPECT_EQ(std::lround(s.mean_prompt_tokens), 1155);
  EXPECT_EQ(std::lround(s.mean_output_tokens), 211);
  EXPECT_EQ(s.max_prompt_tokens, 14050);
  EXPECT_EQ(w->requests[0].arrival_s, 0);
  EXPECT_NEAR(s.duration_s / 60, 58, 2);
  // No prefix information: every prompt is its own content.
  absl::flat_hash_set<uint64_t> ids;
  for (const Request& r : w->requests) {
    ASSERT_EQ(r.segments.size(), 1u);
    ids.insert(r.segments[0].content_id);
  }
  EXPECT_EQ(ids.size(), w->requests.size());
}

TEST(RealTraceTest, OptionsSelectAWindow) {
  ASSERT_TRUE(Exists(kMooncakeTrace))
      << "the shipped trace " << kMooncakeTrace << " is missing";
  WorkloadOptions options;
  options.start_s = 600;
  options.end_s = 1200;
  options.rate_scale = 2;
  absl::StatusOr<Workload> w =
      ReadWorkload(kMooncakeTrace, "mooncake", options);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_TRUE(w->Validate().ok());
  EXPECT_GT(w->requests.size(), 1000u);
  EXPECT_LT(w->requests.back().arrival_s, 300);
}

// ---- Small files in tests/data/traces. ----

TEST(SampleTraceTest, Mooncake) {
  absl::StatusOr<Workload> w = ReadWorkload(kDataDir + "sample_mooncake.jsonl");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->requests.size(), 3u);
  const Request& r0 = w->requests[0];
  ASSERT_EQ(r0.segments.size(), 3u);
  EXPECT_EQ(r0.segments[0].content_id, 0u);
  EXPECT_EQ(r0.segments[0].num_tokens, 512);
  EXPECT_EQ(r0.segments[2].content_id, 2u);
  EXPECT_EQ(r0.segments[2].num_tokens, 1100 - 1024);
  EXPECT_EQ(r0.output_tokens, 20);
  EXPECT_DOUBLE_EQ(w->requests[1].arrival_s, 0.25);
  EXPECT_EQ(w->requests[1].output_tokens, 1);  // 0 becomes 1
  EXPECT_EQ(w->requests[2].id, 2u);
  // Requests 0 and 1 share their first block.
  std::vector<TokenId> a, b;
  r0.MaterializePrompt(&a);
  w->requests[1].MaterializePrompt(&b);
  EXPECT_TRUE(std::equal(a.begin(), a.begin() + 512, b.begin()));
  EXPECT_NE(a[512], b[512]);
}

TEST(SampleTraceTest, AzureWithBomAndCrlf) {
  absl::StatusOr<Workload> w = ReadWorkload(kDataDir + "sample_azure.csv");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->requests.size(), 3u);
  EXPECT_EQ(w->requests[0].arrival_s, 0);
  EXPECT_NEAR(w->requests[1].arrival_s, 4.314579, 1e-9);
  EXPECT_NEAR(w->requests[2].arrival_s, 13.31941, 1e-9);
  EXPECT_EQ(w->requests[0].PromptTokens(), 374);
  EXPECT_EQ(w->requests[1].output_tokens, 109);
  EXPECT_EQ(w->requests[2].output_tokens, 1);
}

TEST(SampleTraceTest, PagekvJsonl) {
  absl::StatusOr<Workload> w = ReadWorkload(kDataDir + "sample_pagekv.jsonl");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->requests.size(), 4u);
  EXPECT_TRUE(w->Validate().ok());
  const auto& r = w->requests;
  EXPECT_EQ(r[0].tokens, (std::vector<TokenId>{1, 2, 3, 4}));
  EXPECT_EQ(r[0].output_tokens, 8);
  EXPECT_EQ(r[1].PromptTokens(), 900);
  EXPECT_EQ(r[1].priority, 80);
  EXPECT_EQ(r[1].cache_salt, 0u);
  EXPECT_NE(r[2].cache_salt, 0u);
  EXPECT_EQ(r[2].priority, 0);
  // Same shared prefix id: the first 600 tokens agree, then they differ.
  std::vector<TokenId> a, b;
  r[1].MaterializePrompt(&a);
  r[2].MaterializePrompt(&b);
  EXPECT_TRUE(std::equal(a.begin(), a.begin() + 600, b.begin()));
  EXPECT_NE(a[600], b[600]);
  ASSERT_EQ(r[3].segments.size(), 1u);
  EXPECT_EQ(r[3].segments[0].num_tokens, 50);
}

TEST(TraceReaderTest, SaltHashIsStable) {
  const std::string line =
      R"({"arrival_s": 0, "prompt_length": 4, "output_length": 1, "salt": "x"})";
  absl::StatusOr<Workload> a = ParseTrace(line, TraceFormat::kJsonl, "a");
  absl::StatusOr<Workload> b = ParseTrace(line, TraceFormat::kJsonl, "b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->requests[0].cache_salt, b->requests[0].cache_salt);
  absl::StatusOr<Workload> empty = ParseTrace(
      R"({"arrival_s": 0, "prompt_length": 4, "output_length": 1, "salt": ""})",
      TraceFormat::kJsonl, "c");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->requests[0].cache_salt, 0u);
}

TEST(TraceReaderTest, FormatNames) {
  for (TraceFormat f :
       {TraceFormat::kMooncake, TraceFormat::kAzure, TraceFormat::kJsonl}) {
    absl::StatusOr<TraceFormat> parsed = ParseTraceFormat(TraceFormatName(f));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, f);
  }
  EXPECT_THAT(Message(ParseTraceFormat("csv").status()),
              HasSubstr("mooncake, azure or jsonl"));
  EXPECT_THAT(
      Message(ReadWorkload(kDataDir + "sample_pagekv.jsonl", "xml").status()),
      HasSubstr("unknown trace format \"xml\""));
}

TEST(TraceReaderTest, GuessesFormat) {
  EXPECT_EQ(*GuessTraceFormat("a.csv", ""), TraceFormat::kAzure);
  EXPECT_EQ(*GuessTraceFormat("a", "TIMESTAMP,ContextTokens,GeneratedTokens"),
            TraceFormat::kAzure);
  EXPECT_EQ(*GuessTraceFormat("a.jsonl",
                              "\n{\"timestamp\": 0, \"hash_ids\": "
                              "[]}"),
            TraceFormat::kMooncake);
  EXPECT_EQ(*GuessTraceFormat("a.txt", "{\"arrival_s\": 1}"),
            TraceFormat::kJsonl);
  EXPECT_THAT(Message(GuessTraceFormat("a.jsonl", "{\"x\": 1}").status()),
              HasSubstr("cannot guess"));
}

TEST(TraceReaderTest, MissingFileIsNotFound) {
  const absl::Status s = ReadWorkload(kDataDir + "no_such_file.jsonl").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(s), HasSubstr("no_such_file.jsonl"));
}

TEST(TraceReaderTest, InvalidOptionsAreRejectedBeforeReading) {
  WorkloadOptions options;
  options.rate_scale = -1;
  const absl::Status s =
      ReadWorkload(kDataDir + "no_such_file.jsonl", "", options).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("rate_scale"));
}

// ---- Bad input: every error names the file, the line and the field. ----

struct BadInput {
  const char* name;
  TraceFormat format;
  std::string contents;
  std::string expected;  // substring of the message
};

std::string Mooncake(std::string_view fields) {
  return std::string(R"({"timestamp": 0, "input_length": 600, )") +
         std::string(fields) + "}\n";
}
const std::string kGoodMooncake =
    R"({"timestamp": 0, "input_length": 600, "output_length": 5, "hash_ids": [1, 2]})"
    "\n";
const std::string kGoodJsonl =
    R"({"arrival_s": 1, "prompt_length": 10, "output_length": 5})"
    "\n";
const std::string kAzureHeader = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
const std::string kGoodAzure = "2023-11-16 18:15:46.68,10,5\n";

std::vector<BadInput> BadInputs() {
  using F = TraceFormat;
  return {
      // Empty input.
      {"empty mooncake", F::kMooncake, "", "t: no requests"},
      {"blank jsonl", F::kJsonl, "\n  \n", "t: no requests"},
      {"empty azure", F::kAzure, "", "t: empty trace"},
      {"header only azure", F::kAzure, kAzureHeader, "no requests"},
      // Truncated and malformed lines.
      {"truncated", F::kMooncake,
       kGoodMooncake + R"({"timestamp": 0, "input_length": 6)",
       "t:2: invalid JSON at column"},
      {"not an object", F::kJsonl, "[1, 2]\n", "t:1: expected a JSON object"},
      {"trailing garbage", F::kJsonl,
       R"({"arrival_s": 1, "prompt_length": 10, "output_length": 5} x)",
       "t:1: invalid JSON"},
      {"truncated azure", F::kAzure, kAzureHeader + "2023-11-16 18:15:46,10\n",
       "t:2: expected 3 comma-separated fields, got 2"},
      // Wrong types.
      {"string length", F::kMooncake,
       Mooncake(R"("output_length": "abc", "hash_ids": [1, 2])"),
       R"(t:1: field "output_length": expected a non-negative integer, got "abc")"},
      {"float length", F::kMooncake,
       Mooncake(R"("output_length": 1.5, "hash_ids": [1, 2])"),
       R"(field "output_length": expected a non-negative integer, got 1.5)"},
      {"hash ids not array", F::kMooncake,
       Mooncake(R"("output_length": 1, "hash_ids": 3)"),
       R"(field "hash_ids": expected an array of integers, got 3)"},
      {"hash ids strings", F::kMooncake,
       Mooncake(R"("output_length": 1, "hash_ids": [1, "2"])"),
       R"(field "hash_ids": expected an array of integers)"},
      {"timestamp string", F::kMooncake,
       R"({"timestamp": "0", "input_length": 1, "output_length": 1, "hash_ids": [1]})",
       R"(field "timestamp": expected a finite number >= 0, got "0")"},
      {"tokens nested", F::kJsonl,
       R"({"arrival_s": 1, "prompt_tokens": [[1]], "output_length": 5})",
       R"(field "prompt_tokens": expected an array of integers)"},
      {"priority object", F::kJsonl,
       R"({"arrival_s": 1, "prompt_length": 1, "output_length": 5, "priority": {}})",
       R"(field "priority": expected an integer in [0, 100], got an object)"},
      {"salt number", F::kJsonl,
       R"({"arrival_s": 1, "prompt_length": 1, "output_length": 5, "salt": 3})",
       R"(field "salt": expected a string, got 3)"},
      {"azure length text", F::kAzure,
       kAzureHeader + "2023-11-16 18:15:46,ab,5\n",
       R"(t:2: field "ContextTokens": expected a positive integer, got "ab")"},
      {"azure bad time", F::kAzure, kAzureHeader + "2023-13-16 18:15:46,1,5\n",
       R"(t:2: field "TIMESTAMP": expected a time like)"},
      {"azure header", F::kAzure, "time,in,out\n", "t:1: expected the header"},
      // Negative and huge lengths.
      {"negative", F::kMooncake,
       Mooncake(R"("output_length": -3, "hash_ids": [1, 2])"),
       R"(field "output_length": expected an integer in [0, 2147483647], got -3)"},
      {"huge", F::kMooncake,
       R"({"timestamp": 0, "input_length": 4294967296, "output_length": 1, "hash_ids": []})",
       R"(field "input_length": expected an integer in [1, 2147483647], got 4294967296)"},
      {"beyond int64", F::kJsonl,
       R"({"arrival_s": 1, "prompt_length": 18446744073709551616, "output_length": 5})",
       R"(field "prompt_length": expected a positive integer, got 18446744073709551616)"},
      {"zero prompt", F::kJsonl,
       R"({"arrival_s": 1, "prompt_length": 0, "output_length": 5})",
       R"(field "prompt_length": expected an integer in [1, 2147483647], got 0)"},
      {"negative token", F::kJsonl,
       R"({"arrival_s": 1, "prompt_tokens": [1, -1], "output_length": 5})",
       R"(field "prompt_tokens": element 1: expected an integer in [0, 2147483647], got -1)"},
      {"huge token", F::kJsonl,
       R"({"arrival_s": 1, "prompt_tokens": [2147483648], "output_length": 5})",
       "got 2147483648"},
      {"negative arrival", F::kJsonl,
       R"({"arrival_s": -1, "prompt_length": 1, "output_length": 5})",
       R"(field "arrival_s": expected a finite number >= 0, got -1)"},
      {"huge arrival", F::kJsonl,
       R"({"arrival_s": 1e999, "prompt_length": 1, "output_length": 5})",
       "t:1: invalid JSON at column 19: number overflow parsing '1e999'"},
      {"azure huge", F::kAzure,
       kAzureHeader + "2023-11-16 18:15:46,1,99999999999\n",
       R"(field "GeneratedTokens": expected an integer in [0, 2147483647], got 99999999999)"},
      {"azure negative", F::kAzure, kAzureHeader + "2023-11-16 18:15:46,-5,1\n",
       R"(field "ContextTokens")"},
      {"shared longer than prompt", F::kJsonl,
       R"({"arrival_s": 1, "prompt_length": 10, "shared_prefix_id": 1, "shared_prefix_length": 11, "output_length": 5})",
       R"(field "shared_prefix_length": expected an integer in [1, 10], got 11)"},
      {"zero output jsonl", F::kJsonl,
       R"({"arrival_s": 1, "prompt_length": 10, "output_length": 0})",
       R"(field "output_length")"},
      {"hash id count", F::kMooncake,
       Mooncake(R"("output_length": 1, "hash_ids": [1, 2, 3])"),
       R"(field "hash_ids": has 3 ids, expected ceil(input_length / 512) = 2)"},
      // Encoding.
      {"non-utf8 string", F::kJsonl,
       "{\"arrival_s\": 1, \"prompt_length\": 1, \"output_length\": 5, "
       "\"salt\": \"\xff\xfe\"}",
       "t:1: invalid JSON"},
      {"non-utf8 outside", F::kMooncake, kGoodMooncake + "\xc3\x28\n",
       "t:2: invalid JSON"},
      {"bom on a later line", F::kJsonl,
       kGoodJsonl + "\xEF\xBB\xBF" + kGoodJsonl,
       "t:2: byte-order mark inside the file"},
      // Duplicate, unknown and missing fields.
      {"duplicate", F::kJsonl,
       R"({"arrival_s": 1, "prompt_length": 10, "output_length": 5, "output_length": 6})",
       R"(t:1: duplicate field "output_length")"},
      {"duplicate mooncake", F::kMooncake,
       Mooncake(
           R"("output_length": 1, "hash_ids": [1, 2], "hash_ids": [1, 2])"),
       R"(duplicate field "hash_ids")"},
      {"unknown", F::kJsonl,
       R"({"arrival_s": 1, "prompt_length": 10, "output_length": 5, "prio": 1})",
       R"(t:1: unknown field "prio")"},
      {"missing", F::kMooncake, Mooncake(R"("hash_ids": [1, 2])"),
       R"(t:1: missing field "output_length")"},
      {"missing arrival", F::kJsonl,
       R"({"prompt_length": 10, "output_length": 5})",
       R"(missing field "arrival_s")"},
      {"no prompt", F::kJsonl, R"({"arrival_s": 1, "output_length": 5})",
       R"(exactly one of the fields "prompt_tokens" and "prompt_length")"},
      {"both prompts", F::kJsonl,
       R"({"arrival_s": 1, "prompt_length": 1, "prompt_tokens": [1], "output_length": 5})",
       "exactly one of"},
      {"empty tokens", F::kJsonl,
       R"({"arrival_s": 1, "prompt_tokens": [], "output_length": 5})",
       R"(field "prompt_tokens": expected at least one token)"},
      {"prefix id alone", F::kJsonl,
       R"({"arrival_s": 1, "prompt_length": 10, "shared_prefix_id": 1, "output_length": 5})",
       "must be given together"},
      // Time going backwards: rejected, not sorted.
      {"backwards mooncake", F::kMooncake,
       R"({"timestamp": 10, "input_length": 1, "output_length": 1, "hash_ids": [1]})"
       "\n"
       R"({"timestamp": 5, "input_length": 1, "output_length": 1, "hash_ids": [1]})",
       R"(t:2: field "timestamp": 5 ms is earlier than the previous request's 10 ms)"},
      {"backwards jsonl", F::kJsonl,
       kGoodJsonl +
           R"({"arrival_s": 0.5, "prompt_length": 10, "output_length": 5})",
       R"(t:2: field "arrival_s": 0.5 is earlier)"},
      {"backwards azure", F::kAzure,
       kAzureHeader + kGoodAzure + "2023-11-16 18:15:40,10,5\n",
       R"(t:3: field "TIMESTAMP": 2023-11-16 18:15:40 is earlier)"},
      // Timestamps outside int64 nanoseconds (1677-09-21 to 2262-04-11).
      {"azure year too late", F::kAzure,
       kAzureHeader + "2262-01-01 00:00:00,10,5\n",
       R"(t:2: field "TIMESTAMP": year 2262 is out of range (expected 1678 to 2261))"},
      {"azure year too early", F::kAzure,
       kAzureHeader + "1677-12-31 23:59:59.9999999,10,5\n",
       R"(t:2: field "TIMESTAMP": year 1677 is out of range)"},
      {"azure year 9999", F::kAzure, kAzureHeader + "9999-12-31 23:59:60,1,1\n",
       R"(t:2: field "TIMESTAMP": year 9999)"},
      {"azure rows 293 years apart", F::kAzure,
       kAzureHeader + "1700-01-01 00:00:00,10,5\n" +
           "1900-01-01 00:00:00,10,5\n" + "2000-01-01 00:00:00,10,5\n",
       R"(t:4: field "TIMESTAMP": 2000-01-01 00:00:00 is more than 292 years after the first row's (1700-01-01 00:00:00))"},
  };
}

TEST(TraceReaderTest, BadInputIsRejectedWithFileLineAndField) {
  for (const BadInput& c : BadInputs()) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Workload> w = ParseTrace(c.contents, c.format, "t");
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(w.status()), HasSubstr(c.expected));
  }
}

TEST(TraceReaderTest, AzureTimestampsAtTheEdgesOfTheRangeAreAccepted) {
  // The first instant of 1678 and the last of 2261 (with a leap second),
  // each paired with a row just under 292 years away.
  absl::StatusOr<Workload> early =
      ParseTrace(kAzureHeader + "1678-01-01 00:00:00,10,5\n" +
                     "1969-12-31 23:59:59.999999999,10,5\n",
                 TraceFormat::kAzure, "t");
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_NEAR(early->requests[1].arrival_s, 9.2146e9, 1e6);
  absl::StatusOr<Workload> late =
      ParseTrace(kAzureHeader + "1969-12-31 23:59:59.999999999,10,5\n" +
                     "2261-12-31 23:59:60.999999999,10,5\n",
                 TraceFormat::kAzure, "t");
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_NEAR(late->requests[1].arrival_s, 9.2147e9, 1e6);
}

// Inputs the fuzzer found (fuzz/regressions/azure_fuzzer/): the reader
// converted timestamps to int64 nanoseconds without a range check and
// overflowed (UBSan). They must now be rejected at the offending row.
TEST(TraceReaderTest, AzureFuzzerRegressionsAreRejected) {
  const std::string dir = kSourceDir + "/fuzz/regressions/azure_fuzzer/";
  for (const auto& [file, expected] : {
           std::pair<std::string, std::string>{
               "year_4046_overflow.csv",
               R"(:2: field "TIMESTAMP": year 4046 is out of range)"},
           {"rows_339_years_apart.csv",
            R"(:3: field "TIMESTAMP": 2023-11-16 18:15:50.9951690 is more )"
            R"(than 292 years after the first row's)"},
       }) {
    SCOPED_TRACE(file);
    ASSERT_TRUE(Exists(dir + file));
    absl::StatusOr<Workload> w = ReadWorkload(dir + file, "azure");
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(w.status()), HasSubstr(dir + file + expected));
  }
}

TEST(TraceReaderTest, BomAtFileStartIsAccepted) {
  for (auto [format, good] :
       {std::pair{TraceFormat::kJsonl, kGoodJsonl},
        std::pair{TraceFormat::kMooncake, kGoodMooncake},
        std::pair{TraceFormat::kAzure, kAzureHeader + kGoodAzure}}) {
    absl::StatusOr<Workload> w = ParseTrace("\xEF\xBB\xBF" + good, format, "t");
    EXPECT_TRUE(w.ok()) << w.status();
  }
}

// The examples in docs/workload-formats.md.
TEST(TraceReaderTest, DocumentedExamplesParse) {
  absl::StatusOr<Workload> mooncake = ParseTrace(
      R"({"timestamp": 27482, "input_length": 6955, "output_length": 52, "hash_ids": [46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 2354, 2355]})",
      TraceFormat::kMooncake, "doc");
  ASSERT_TRUE(mooncake.ok()) << mooncake.status();
  EXPECT_EQ(mooncake->requests[0].PromptTokens(), 6955);
  absl::StatusOr<Workload> jsonl = ParseTrace(
      R"({"arrival_s": 0.0, "prompt_tokens": [128000, 9906, 1917], "output_length": 64})"
      "\n"
      R"({"arrival_s": 0.5, "prompt_length": 900, "shared_prefix_id": 7, "shared_prefix_length": 600, "output_length": 32, "priority": 80, "salt": "tenant-a"})",
      TraceFormat::kJsonl, "doc");
  ASSERT_TRUE(jsonl.ok()) << jsonl.status();
  EXPECT_EQ(jsonl->requests.size(), 2u);
}

TEST(TraceReaderTest, UnicodeStringsAreAccepted) {
  absl::StatusOr<Workload> w = ParseTrace(
      R"({"arrival_s": 1, "prompt_length": 10, "output_length": 5, "salt": "tenant-é-\u00e9"})",
      TraceFormat::kJsonl, "t");
  EXPECT_TRUE(w.ok()) << w.status();
}

}  // namespace
}  // namespace pagekv
