// SPDX-License-Identifier: Apache-2.0
// The C API of CThreadLocals from Swift without SwiftPM: `swiftc -I include`
// finds include/module.modulemap, so `import CThreadLocals` works directly.
//
// From the repository root (one line each):
//
//   cc -std=c11 -O2 -I include -c Sources/CThreadLocals/CThreadLocals.c -o CThreadLocals.o
//   swiftc -swift-version 6 -O -I include Examples/C/slots.swift CThreadLocals.o -o slots-swift
//
// Swift code normally uses the `ThreadLocals` module instead; this shows that
// the C module stands on its own.

import CThreadLocals

var slot = ctl_slot()
precondition(ctl_slot_create(&slot, nil, nil) == CTL_OK)
precondition(ctl_set_i64(slot, 42))
print("this thread's value: \(ctl_get_i64(slot)), has value: \(ctl_has_value(slot))")
precondition(ctl_slot_destroy(slot) == CTL_OK)
print("ok")
