// SPDX-License-Identifier: Apache-2.0
// The one definition of the raw thread-local counter declared in CRawTLS.h.
#include "CRawTLS.h"

_Thread_local int64_t rtls_counter __attribute__((tls_model("initial-exec"))) = 0;
