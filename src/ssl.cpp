// SSL bus compressor batch entry points — placeholder, implemented under issue 3.
#include "differential_dynamics/batch.hpp"
