// SPDX-License-Identifier: Apache-2.0
import CThreadLocals
import Testing

/// The C slot API as Swift imports it. The C store's scenarios are C programs
/// in Tests/CStoreTests, run by .ci/steps/25-c-store.sh.
@Suite("C slot API")
struct CAPITests {
    @Test func typedAccessorsFromSwift() {
        var slot = ctl_slot()
        #expect(ctl_slot_create(&slot, nil, nil) == CTL_OK)
        defer { #expect(ctl_slot_destroy(slot) == CTL_OK) }
        #expect(!ctl_has_value(slot))
        #expect(ctl_set_f64(slot, 1.25))
        #expect(ctl_get_f64(slot) == 1.25)
        #expect(ctl_set_i64(slot, -9))
        ctl_value_pointer(slot)!.pointee.i64 += 10
        #expect(ctl_get_i64(slot) == 1)
        var taken = ctl_value()
        #expect(ctl_take(slot, &taken))
        #expect(taken.i64 == 1)
        #expect(!ctl_has_value(slot))
    }
}
