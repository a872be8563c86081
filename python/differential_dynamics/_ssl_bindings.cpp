// pybind11 bindings of the SSL bus compressor (issue 3). No math here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_ssl(py::module_& m) { (void)m; }
