// KnownRequests: request objects and token lists kept by identity.
#include "vllm_known_requests.h"

namespace pagekv::python {

KnownRequests::~KnownRequests() {
  for (size_t h = 0; h < by_handle_.size(); ++h) {
    Forget(static_cast<vllm::ReqHandle>(h));
  }
}

KnownRequests::Entry& KnownRequests::At(vllm::ReqHandle h) {
  const size_t i = static_cast<size_t>(h);
  if (i >= by_handle_.size()) by_handle_.resize(i + 1);
  return by_handle_[i];
}

void KnownRequests::Remember(PyObject* request, vllm::ReqHandle h) {
  Entry& e = At(h);
  if (e.request == request) return;
  if (e.request != nullptr) by_object_.erase(e.request);
  Py_INCREF(request);
  Py_XDECREF(e.request);
  e.request = request;
  by_object_[request] = h;
}

void KnownRequests::RememberTokens(vllm::ReqHandle h, PyObject* tokens,
                                   PyObject* list) {
  Entry& e = At(h);
  Py_INCREF(tokens);
  Py_INCREF(list);
  Py_XDECREF(e.tokens);
  Py_XDECREF(e.list);
  e.tokens = tokens;
  e.list = list;
}

void KnownRequests::Forget(vllm::ReqHandle h) {
  const size_t i = static_cast<size_t>(h);
  if (i >= by_handle_.size()) return;
  Entry e = by_handle_[i];
  by_handle_[i] = Entry{};
  if (e.request != nullptr) by_object_.erase(e.request);
  // Decrements last: a request's finalizer may run Python code.
  Py_XDECREF(e.request);
  Py_XDECREF(e.tokens);
  Py_XDECREF(e.list);
}

}  // namespace pagekv::python
