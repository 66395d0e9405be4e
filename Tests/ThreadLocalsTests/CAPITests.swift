import CThreadLocals
import CThreadLocalsTestHarness
import Testing

/// The C slot API, driven from plain C (the harness) and from Swift.
@Suite("C slot API")
struct CAPITests {
    @Test func typedAccessorsFromC() {
        #expect(cth_basic_accessors() == 0)
    }

    @Test func threadExitDestroysEachValueOnce() {
        #expect(cth_thread_exit_destroys_values(8) == 0)
    }

    @Test func destroyingASlotDestroysRunningThreadsValues() {
        #expect(cth_destroy_destroys_running_threads_values(8) == 0)
    }

    @Test func tenThousandLiveSlots() {
        #expect(cth_many_live_slots(10_000) == 0)
    }

    @Test func reusedSlotNumberShowsNoStaleValue() {
        #expect(cth_reused_slot_shows_no_stale_value() == 0)
    }

    @Test func destructorsThatStoreValuesDuringThreadExit() {
        #expect(cth_destructor_reentrancy() == 0)
    }

    @Test func misuseHasDefinedOutcomes() {
        #expect(cth_misuse() == 0)
    }

    @Test func forkChildKeepsValuesAndKeepsWorking() {
        #expect(cth_fork_child_keeps_working() == 0)
    }

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
