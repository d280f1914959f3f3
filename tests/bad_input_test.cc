// Malformed traces and specs through the real `pagekv` binary: every case
// must exit with code 2 (bad input), print an error that names the file and,
// where there is one, the line and the field, and neither crash nor hang
// (each run is wrapped in `timeout 20`; a sanitizer report or a signal shows
// up as an exit code other than 2).
//
// Trace cases run through both `pagekv simulate --workload FILE --format F`
// and `pagekv cache --trace FILE --format F`; spec cases through
// `pagekv plan --model FILE` or `--hardware FILE`.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "test_util.h"

namespace pagekv {
namespace {

enum class Command { kSimulate, kCache, kPlanModel, kPlanHardware };

struct BadInput {
  std::string name;     // unique; also the file's stem
  std::string format;   // trace format, or "model" / "hardware"
  std::string content;  // bytes of the file
  // Substrings the error must contain besides the file name, e.g. ":3:" for
  // the line and the field name.
  std::vector<std::string> expect;
  // Non-empty: a known, reported bug; the case is skipped with this note.
  std::string known_bug;

  BadInput(std::string name_in, std::string format_in, std::string content_in,
           std::vector<std::string> expect_in, std::string known_bug_in = "")
      : name(std::move(name_in)),
        format(std::move(format_in)),
        content(std::move(content_in)),
        expect(std::move(expect_in)),
        known_bug(std::move(known_bug_in)) {}
};

struct CliRun {
  Command command;
  BadInput input;
  friend void PrintTo(const CliRun& r, std::ostream* os) {
    *os << r.input.name;
  }
};

constexpr char kMooncakeRow[] =
    R"({"timestamp": 0, "input_length": 600, "output_length": 4, "hash_ids": [1, 2]})";
constexpr char kAzureHeader[] = "TIMESTAMP,ContextTokens,GeneratedTokens";
constexpr char kAzureRow[] = "2023-11-16 18:15:46.6805900,374,44";
constexpr char kJsonlRow[] =
    R"({"arrival_s": 0.5, "prompt_length": 40, "output_length": 4})";
constexpr char kBom[] = "\xEF\xBB\xBF";

std::string Lines(std::initializer_list<std::string> lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

std::vector<BadInput> TraceInputs() {
  const std::string m = kMooncakeRow;
  const std::string h = kAzureHeader;
  const std::string a = kAzureRow;
  const std::string j = kJsonlRow;
  return {
      // --- Mooncake JSONL ---
      {"mc_empty", "mooncake", "", {}},
      {"mc_blank_lines", "mooncake", "\n\n  \n", {}},
      {"mc_truncated_line",
       "mooncake",
       Lines({m, R"({"timestamp": 5, "input_length": 6)"}),
       {":2:"}},
      {"mc_truncated_no_newline", "mooncake", m.substr(0, 40), {":1:"}},
      {"mc_not_object", "mooncake", Lines({"[1, 2, 3]"}), {":1:"}},
      {"mc_null", "mooncake", Lines({"null"}), {":1:"}},
      {"mc_wrong_type_length",
       "mooncake",
       Lines(
           {R"({"timestamp": 0, "input_length": "600", "output_length": 4, "hash_ids": [1, 2]})"}),
       {":1:", "input_length"}},
      {"mc_wrong_type_hash_ids",
       "mooncake",
       Lines(
           {R"({"timestamp": 0, "input_length": 600, "output_length": 4, "hash_ids": 7})"}),
       {":1:", "hash_ids"}},
      {"mc_float_length",
       "mooncake",
       Lines(
           {R"({"timestamp": 0, "input_length": 1.5, "output_length": 4, "hash_ids": [1]})"}),
       {":1:", "input_length"}},
      {"mc_negative_length",
       "mooncake",
       Lines(
           {m,
            R"({"timestamp": 1, "input_length": -600, "output_length": 4, "hash_ids": [1, 2]})"}),
       {":2:", "input_length"}},
      {"mc_negative_output",
       "mooncake",
       Lines(
           {R"({"timestamp": 0, "input_length": 600, "output_length": -1, "hash_ids": [1, 2]})"}),
       {":1:", "output_length"}},
      {"mc_huge_length",
       "mooncake",
       Lines(
           {R"({"timestamp": 0, "input_length": 2147483648, "output_length": 4, "hash_ids": [1, 2]})"}),
       {":1:", "input_length"}},
      {"mc_huge_number",
       "mooncake",
       Lines(
           {R"({"timestamp": 0, "input_length": 99999999999999999999999, "output_length": 4, "hash_ids": [1]})"}),
       {":1:"}},
      {"mc_negative_hash_id",
       "mooncake",
       Lines(
           {R"({"timestamp": 0, "input_length": 600, "output_length": 4, "hash_ids": [1, -2]})"}),
       {":1:", "hash_ids"}},
      {"mc_hash_ids_mismatch",
       "mooncake",
       Lines(
           {R"({"timestamp": 0, "input_length": 600, "output_length": 4, "hash_ids": [1, 2, 3, 4]})"}),
       {":1:", "hash_ids"}},
      {"mc_missing_field",
       "mooncake",
       Lines({R"({"timestamp": 0, "output_length": 4, "hash_ids": [1]})"}),
       {":1:", "input_length"}},
      {"mc_duplicate_field",
       "mooncake",
       Lines(
           {R"({"timestamp": 0, "input_length": 600, "input_length": 6, "output_length": 4, "hash_ids": [1, 2]})"}),
       {":1:", "input_length"}},
      {"mc_time_goes_back",
       "mooncake",
       Lines(
           {R"({"timestamp": 50, "input_length": 600, "output_length": 4, "hash_ids": [1, 2]})",
            m}),
       {":2:", "timestamp"}},
      {"mc_non_utf8_string",
       "mooncake",
       Lines(
           {m,
            R"({"timestamp": 0, "input_length": 600, "output_length": 4, "hash_ids": [1, 2], "note": ")" +
                std::string("\xFF\xFE") + "\"}"}),
       {":2:"}},
      {"mc_non_utf8_line", "mooncake", Lines({m, "\xC3\x28\xA0\xA1"}), {":2:"}},
      {"mc_bad_surrogate",
       "mooncake",
       Lines(
           {R"({"timestamp": 0, "input_length": 600, "output_length": 4, "hash_ids": [1, 2], "note": "\ud800"})"}),
       {":1:"}},
      {"mc_bom_inside", "mooncake", Lines({m, kBom + m}), {":2:"}},
      {"mc_double_bom",
       "mooncake",
       Lines({std::string(kBom) + kBom + m}),
       {":1:"}},
      {"mc_nul_byte",
       "mooncake",
       Lines(
           {m,
            std::string(R"({"timestamp": 1,)") + '\0' +
                R"( "input_length": 6, "output_length": 4, "hash_ids": [1]})"}),
       {":2:"}},
      {"mc_two_objects", "mooncake", Lines({m + " " + m}), {":1:"}},
      {"mc_deep_nesting",
       "mooncake",
       Lines({std::string(100000, '[') + std::string(100000, ']')}),
       {":1:"}},
      {"mc_azure_content", "mooncake", Lines({h, a}), {":1:"}},
      // --- Azure CSV ---
      {"az_empty", "azure", "", {}},
      {"az_header_only", "azure", Lines({h}), {}},
      {"az_wrong_header", "azure", Lines({"time,in,out", a}), {":1:"}},
      {"az_truncated_line",
       "azure",
       Lines({h, a, "2023-11-16 18:15:47"}),
       {":3:"}},
      {"az_missing_field",
       "azure",
       Lines({h, "2023-11-16 18:15:46,374"}),
       {":2:"}},
      {"az_extra_field", "azure", Lines({h, a + ",9"}), {":2:"}},
      {"az_wrong_type",
       "azure",
       Lines({h, "2023-11-16 18:15:46,abc,44"}),
       {":2:", "ContextTokens"}},
      {"az_negative_length",
       "azure",
       Lines({h, "2023-11-16 18:15:46,-374,44"}),
       {":2:", "ContextTokens"}},
      {"az_negative_output",
       "azure",
       Lines({h, "2023-11-16 18:15:46,374,-1"}),
       {":2:", "GeneratedTokens"}},
      {"az_huge_length",
       "azure",
       Lines({h, "2023-11-16 18:15:46,99999999999999999999,44"}),
       {":2:", "ContextTokens"}},
      {"az_zero_length",
       "azure",
       Lines({h, "2023-11-16 18:15:46,0,44"}),
       {":2:", "ContextTokens"}},
      {"az_bad_timestamp",
       "azure",
       Lines({h, "2023-13-45 18:15:46,374,44"}),
       {":2:", "TIMESTAMP"}},
      {"az_time_goes_back",
       "azure",
       Lines({h, a, "2023-11-16 18:15:40.0000000,374,44"}),
       {":3:", "TIMESTAMP"}},
      {"az_years_apart",
       "azure",
       Lines({h, "1684-11-16 18:15:46,374,44", a}),
       {":3:", "TIMESTAMP", "292 years"}},
      {"az_year_out_of_range",
       "azure",
       Lines({h, "4046-11-16 18:15:46.6805900,374,44"}),
       {":2:", "TIMESTAMP", "year 4046"}},
      {"az_non_utf8",
       "azure",
       Lines({h, "2023-11-16 18:15:46,374,4\xFF"}),
       {":2:", "GeneratedTokens"}},
      {"az_bom_inside", "azure", Lines({h, kBom + a}), {":2:"}},
      {"az_space_in_number",
       "azure",
       Lines({h, "2023-11-16 18:15:46, 374,44"}),
       {":2:", "ContextTokens"}},
      {"az_nul_byte",
       "azure",
       Lines({h, std::string("2023-11-16 18:15:46,3") + '\0' + "74,44"}),
       {":2:"}},
      {"az_jsonl_content", "azure", Lines({m}), {":1:"}},
      // --- pagekv JSONL ---
      {"pj_empty", "jsonl", "", {}},
      {"pj_truncated_line",
       "jsonl",
       Lines({j, R"({"arrival_s": 1, "prompt)"}),
       {":2:"}},
      {"pj_unknown_field",
       "jsonl",
       Lines(
           {R"({"arrival_s": 0, "prompt_length": 40, "output_length": 4, "colour": 1})"}),
       {":1:", "colour"}},
      {"pj_duplicate_field",
       "jsonl",
       Lines(
           {R"({"arrival_s": 0, "prompt_length": 40, "prompt_length": 41, "output_length": 4})"}),
       {":1:", "prompt_length"}},
      {"pj_wrong_type",
       "jsonl",
       Lines(
           {R"({"arrival_s": "soon", "prompt_length": 40, "output_length": 4})"}),
       {":1:", "arrival_s"}},
      {"pj_tokens_not_array",
       "jsonl",
       Lines({R"({"arrival_s": 0, "prompt_tokens": 5, "output_length": 4})"}),
       {":1:", "prompt_tokens"}},
      {"pj_negative_token",
       "jsonl",
       Lines(
           {R"({"arrival_s": 0, "prompt_tokens": [1, -2], "output_length": 4})"}),
       {":1:", "prompt_tokens"}},
      {"pj_negative_length",
       "jsonl",
       Lines({j,
              R"({"arrival_s": 1, "prompt_length": -40, "output_length": 4})"}),
       {":2:", "prompt_length"}},
      {"pj_huge_length",
       "jsonl",
       Lines(
           {R"({"arrival_s": 0, "prompt_length": 4294967296, "output_length": 4})"}),
       {":1:", "prompt_length"}},
      {"pj_negative_arrival",
       "jsonl",
       Lines({R"({"arrival_s": -1, "prompt_length": 40, "output_length": 4})"}),
       {":1:", "arrival_s"}},
      {"pj_overflowing_arrival",
       "jsonl",
       Lines(
           {R"({"arrival_s": 1e400, "prompt_length": 40, "output_length": 4})"}),
       {":1:"}},
      {"pj_both_prompts",
       "jsonl",
       Lines(
           {R"({"arrival_s": 0, "prompt_length": 4, "prompt_tokens": [1], "output_length": 4})"}),
       {":1:", "prompt_"}},
      {"pj_priority_range",
       "jsonl",
       Lines(
           {R"({"arrival_s": 0, "prompt_length": 40, "output_length": 4, "priority": 101})"}),
       {":1:", "priority"}},
      {"pj_shared_prefix_too_long",
       "jsonl",
       Lines(
           {R"({"arrival_s": 0, "prompt_length": 40, "shared_prefix_id": 1, "shared_prefix_length": 41, "output_length": 4})"}),
       {":1:", "shared_prefix_length"}},
      {"pj_zero_output",
       "jsonl",
       Lines({R"({"arrival_s": 0, "prompt_length": 40, "output_length": 0})"}),
       {":1:", "output_length"}},
      {"pj_non_utf8_salt",
       "jsonl",
       Lines(
           {R"({"arrival_s": 0, "prompt_length": 40, "output_length": 4, "salt": ")" +
            std::string("\xFF") + "\"}"}),
       {":1:"}},
      {"pj_bom_inside", "jsonl", Lines({j, kBom + j}), {":2:"}},
      {"pj_time_goes_back",
       "jsonl",
       Lines(
           {j,
            R"({"arrival_s": 0.25, "prompt_length": 40, "output_length": 4})"}),
       {":2:", "arrival_s"}},
  };
}

std::vector<BadInput> SpecInputs() {
  const std::string base = R"("base": "llama-3-8b")";
  const std::string hw = R"("base": "h100-sxm")";
  return {
      {"model_empty", "model", "", {}},
      {"model_not_json", "model", "num_layers = 32\n", {"line 1, column 3"}},
      {"model_truncated",
       "model",
       "{" + base + R"(, "num_layers": 3)",
       {"line 1, column"}},
      {"model_syntax_error_line_3",
       "model",
       "{\n  " + base + ",\n  \"num_layers\": 32,,\n}",
       {"line 3, column 20"}},
      {"model_array", "model", "[1, 2]", {}},
      {"model_wrong_type",
       "model",
       "{" + base + R"(, "head_dim": "128"})",
       {"head_dim"}},
      {"model_negative",
       "model",
       "{" + base + R"(, "num_layers": -1})",
       {"num_layers"}},
      {"model_zero",
       "model",
       "{" + base + R"(, "num_kv_heads": 0})",
       {"num_kv_heads"}},
      {"model_huge_int",
       "model",
       "{" + base + R"(, "num_kv_heads": 2147483648})",
       {"num_kv_heads"}},
      {"model_huge_number",
       "model",
       "{" + base + R"(, "num_layers": 99999999999999999999})",
       {"num_layers"}},
      {"model_overflowing_number",
       "model",
       "{" + base + R"(, "head_dim": 1e400})",
       {}},
      {"model_unknown_field",
       "model",
       "{" + base + R"(, "layers": 32})",
       {"layers"}},
      {"model_duplicate_field",
       "model",
       "{" + base + R"(, "num_layers": 32, "num_layers": 16})",
       {"duplicate field 'num_layers'"}},
      {"model_unknown_base", "model", R"({"base": "no-such-model"})", {"base"}},
      {"model_unknown_dtype",
       "model",
       "{" + base + R"(, "kv_dtype": "fp7"})",
       {"kv_dtype"}},
      {"model_bad_layer_groups",
       "model",
       "{" + base + R"(, "layer_groups": [{"name": "a", "num_layers": 5}]})",
       {"layer_groups"}},
      {"model_layer_groups_type",
       "model",
       "{" + base + R"(, "layer_groups": 3})",
       {"layer_groups"}},
      {"model_non_utf8", "model", "{" + base + ", \"name\": \"\xFF\"}", {}},
      {"model_bom_inside", "model", "{" + base + ", " + kBom + "}", {}},
      {"model_nul_byte", "model", "{" + base + std::string(1, '\0') + "}", {}},
      {"model_two_objects", "model", "{" + base + "} {" + base + "}", {}},
      {"model_infinite_params",
       "model",
       "{" + base + R"(, "num_params": 1e308})",
       {"num_params"}},
      {"model_deep_nesting",
       "model",
       std::string(100000, '[') + std::string(100000, ']'),
       {}},
      {"hw_empty", "hardware", "", {}},
      {"hw_wrong_type",
       "hardware",
       "{" + hw + R"(, "hbm_gb": "80"})",
       {"hbm_gb"}},
      {"hw_negative",
       "hardware",
       "{" + hw + R"(, "hbm_gb": -80})",
       {"field 'hbm_gb'", "got -80"}},
      {"hw_huge", "hardware", "{" + hw + R"(, "hbm_gb": 1e300})", {"hbm_gb"}},
      {"hw_out_of_range",
       "hardware",
       "{" + hw + R"(, "memory_efficiency": 1.5})",
       {"memory_efficiency"}},
      {"hw_zero_devices",
       "hardware",
       "{" + hw + R"(, "num_devices": 0})",
       {"num_devices"}},
      {"hw_unknown_field", "hardware", "{" + hw + R"(, "hbm": 80})", {"hbm"}},
      {"hw_duplicate_field",
       "hardware",
       "{" + hw + R"(, "hbm_gb": 80, "hbm_gb": 40})",
       {"duplicate field 'hbm_gb'"}},
      {"hw_truncated", "hardware", "{" + hw + ",", {}},
  };
}

std::vector<CliRun> Runs() {
  std::vector<CliRun> runs;
  for (const BadInput& in : TraceInputs()) {
    runs.push_back({Command::kSimulate, in});
    runs.push_back({Command::kCache, in});
  }
  for (const BadInput& in : SpecInputs()) {
    runs.push_back(
        {in.format == "model" ? Command::kPlanModel : Command::kPlanHardware,
         in});
  }
  return runs;
}

std::string CommandName(Command c) {
  switch (c) {
    case Command::kSimulate:
      return "simulate";
    case Command::kCache:
      return "cache";
    case Command::kPlanModel:
      return "plan_model";
    case Command::kPlanHardware:
      return "plan_hardware";
  }
  return "?";
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class BadInputTest : public ::testing::TestWithParam<CliRun> {};

TEST_P(BadInputTest, ExitsTwoWithAnErrorNamingFileLineAndField) {
  const CliRun& run = GetParam();
  if (!run.input.known_bug.empty()) {
    GTEST_SKIP() << "known bug: " << run.input.known_bug;
  }
  const std::string ext =
      run.input.format == "azure"                                     ? ".csv"
      : run.input.format == "mooncake" || run.input.format == "jsonl" ? ".jsonl"
                                                                      : ".json";
  const std::string stem =
      "pagekv_bad_" + CommandName(run.command) + "_" + run.input.name;
  const std::string path = pagekv::testing::TempPath(stem + ext);
  const std::string out_path = pagekv::testing::TempPath(stem + ".out");
  {
    std::ofstream f(path, std::ios::binary);
    f << run.input.content;
  }
  std::string args;
  switch (run.command) {
    case Command::kSimulate:
      args = "simulate --workload '" + path + "' --format " + run.input.format;
      break;
    case Command::kCache:
      args = "cache --trace '" + path + "' --format " + run.input.format;
      break;
    case Command::kPlanModel:
      args = "plan --model '" + path + "' --hardware h100-sxm";
      break;
    case Command::kPlanHardware:
      args = "plan --model llama-3-8b --hardware '" + path + "'";
      break;
  }
  const std::string cmd = std::string("timeout 20 '") + PAGEKV_CLI_PATH + "' " +
                          args + " >'" + out_path + "' 2>&1";
  const int status = std::system(cmd.c_str());
  const std::string output = ReadFile(out_path);
  ASSERT_TRUE(WIFEXITED(status)) << cmd << "\n" << output;
  EXPECT_EQ(WEXITSTATUS(status), 2) << cmd << " (124 = hung, 134 = abort)\n"
                                    << output;
  EXPECT_NE(output.find(stem + ext), std::string::npos)
      << "the error does not name the file:\n"
      << output;
  for (const std::string& s : run.input.expect) {
    EXPECT_NE(output.find(s), std::string::npos)
        << "the error does not mention \"" << s << "\":\n"
        << output;
  }
  EXPECT_LT(output.size(), 4096u) << "an error should be short:\n" << output;
  std::remove(path.c_str());
  std::remove(out_path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Cases, BadInputTest, ::testing::ValuesIn(Runs()),
                         [](const auto& info) {
                           return CommandName(info.param.command) + "_" +
                                  info.param.input.name;
                         });

}  // namespace
}  // namespace pagekv
