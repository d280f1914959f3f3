// Running a `pagekv` subcommand's Run function in a test and capturing what
// it prints.
#ifndef PAGEKV_TESTS_COMMAND_TEST_UTIL_H_
#define PAGEKV_TESTS_COMMAND_TEST_UTIL_H_

#include <ostream>
#include <sstream>
#include <string>

namespace pagekv::testing {

// What a command returned and printed.
struct CommandRun {
  int code;
  std::string out;
  std::string err;
};

// Calls run(args, out, err) with string streams.
template <typename Args>
CommandRun RunCommand(int (*run)(const Args&, std::ostream&, std::ostream&),
                      const Args& args) {
  std::ostringstream out, err;
  const int code = run(args, out, err);
  return {code, out.str(), err.str()};
}

}  // namespace pagekv::testing

#endif  // PAGEKV_TESTS_COMMAND_TEST_UTIL_H_
