// KnownRequests: the request objects a pagekv.vllm manager has seen, by
// identity, and the token list each last showed. The fast allocate_slots
// then finds a running request's handle without reading request_id or the
// adapter's dict, and reads all_token_ids' list without reading `_x` again.
// It also records which requests have tokens the manager has not copied.
//
// Every object kept here holds a reference until Forget(handle), which the
// manager's free() calls, so no kept address can be reused by a new object
// and identity stays a sound key. Not a public API; all calls hold the GIL.
#ifndef PAGEKV_PYTHON_VLLM_KNOWN_REQUESTS_H_
#define PAGEKV_PYTHON_VLLM_KNOWN_REQUESTS_H_

#include <Python.h>

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "pagekv/vllm/manager.h"

namespace pagekv::python {

class KnownRequests {
 public:
  KnownRequests() = default;
  KnownRequests(const KnownRequests&) = delete;
  KnownRequests& operator=(const KnownRequests&) = delete;
  ~KnownRequests();

  // The handle `request` was remembered under, or -1.
  vllm::ReqHandle Find(PyObject* request) const {
    const auto it = by_object_.find(request);
    return it == by_object_.end() ? -1 : it->second;
  }
  // Remembers `request` as handle h's object (in place of any earlier one).
  void Remember(PyObject* request, vllm::ReqHandle h);

  // The list to read for handle h's all_token_ids when it is `tokens`, the
  // object seen last time; nullptr otherwise. Borrowed.
  PyObject* TokenList(vllm::ReqHandle h, PyObject* tokens) const {
    const size_t i = static_cast<size_t>(h);
    return i < by_handle_.size() && by_handle_[i].tokens == tokens
               ? by_handle_[i].list
               : nullptr;
  }
  // Records that handle h's all_token_ids `tokens` is read through `list`.
  void RememberTokens(vllm::ReqHandle h, PyObject* tokens, PyObject* list);

  // Whether handle h's last Sync left the tokens of a partial block in the
  // request's list only (VllmCore::Sync copies a block's tokens once it
  // fills), and the token count at which Sync should copy again (0 when
  // unknown; copying earlier is always allowed).
  bool Lagging(vllm::ReqHandle h) const {
    const size_t i = static_cast<size_t>(h);
    return i < by_handle_.size() && by_handle_[i].lagging;
  }
  int64_t CopyAt(vllm::ReqHandle h) const {
    const size_t i = static_cast<size_t>(h);
    return i < by_handle_.size() ? by_handle_[i].copy_at : 0;
  }
  void SetLag(vllm::ReqHandle h, bool lagging, int64_t copy_at) {
    Entry& e = At(h);
    e.lagging = lagging;
    e.copy_at = copy_at;
  }

  // Whether handle h's range of kept block hashes is settled: an
  // allocation for it succeeded, so it caches from its count of cached
  // blocks on and the hashes it needs are only appended.
  bool KeysSettled(vllm::ReqHandle h) const {
    const size_t i = static_cast<size_t>(h);
    return i < by_handle_.size() && by_handle_[i].keys_settled;
  }
  void SettleKeys(vllm::ReqHandle h) { At(h).keys_settled = true; }

  // Drops everything kept for handle h (its request was freed).
  void Forget(vllm::ReqHandle h);

 private:
  struct Entry {
    PyObject* request = nullptr;  // each owned
    PyObject* tokens = nullptr;
    PyObject* list = nullptr;
    bool lagging = false;
    bool keys_settled = false;
    int64_t copy_at = 0;
  };
  Entry& At(vllm::ReqHandle h);

  absl::flat_hash_map<PyObject*, vllm::ReqHandle> by_object_;
  std::vector<Entry> by_handle_;
};

}  // namespace pagekv::python

#endif  // PAGEKV_PYTHON_VLLM_KNOWN_REQUESTS_H_
