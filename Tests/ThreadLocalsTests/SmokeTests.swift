import Testing
import ThreadLocals

@Test func smoke() {
    let counter = ThreadLocal { 0 }
    counter.value += 1
    #expect(counter.value == 1)
}
