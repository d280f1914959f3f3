// A real redis-server for tests and benchmarks: a child process on a free
// loopback port, no persistence, its files in a given directory.
#ifndef PAGEKV_TESTS_REDIS_SERVER_H_
#define PAGEKV_TESTS_REDIS_SERVER_H_

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace pagekv::testing {

// A loopback TCP port free at the time of the call.
inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// A redis-server child on `port` with no persistence, data in `dir`, and
// `extra_args` appended to its command line (e.g. {"--maxmemory", "2mb"}).
class RedisServer {
 public:
  RedisServer(int port, std::string dir,
              std::vector<std::string> extra_args = {})
      : port_(port), dir_(std::move(dir)), extra_(std::move(extra_args)) {}
  ~RedisServer() { Kill(); }

  bool Start() {
    pid_ = fork();
    if (pid_ == 0) {
      const std::string port = std::to_string(port_);
      std::vector<const char*> argv = {
          "redis-server", "--port",     port.c_str(), "--bind", "127.0.0.1",
          "--dir",        dir_.c_str(), "--save",     "",       "--appendonly",
          "no",           "--loglevel", "warning"};
      for (const std::string& a : extra_) argv.push_back(a.c_str());
      argv.push_back(nullptr);
      execvp("redis-server", const_cast<char* const*>(argv.data()));
      _exit(127);  // not installed
    }
    return pid_ > 0;
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // Stops (SIGSTOP) and resumes (SIGCONT) the server: a paused server
  // accepts connections (the kernel does) but never answers.
  void Pause() {
    if (pid_ > 0) kill(pid_, SIGSTOP);
  }
  void Resume() {
    if (pid_ > 0) kill(pid_, SIGCONT);
  }
  // Whether the child exited (e.g. redis-server is not installed).
  bool Exited() {
    int status = 0;
    return pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_;
  }

 private:
  int port_;
  std::string dir_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

}  // namespace pagekv::testing

#endif  // PAGEKV_TESTS_REDIS_SERVER_H_
