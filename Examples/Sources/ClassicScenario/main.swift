// SPDX-License-Identifier: Apache-2.0
// The classic thread-local scenario, as in Python's `threading.local()`
// documentation: two threads each store their own name in one shared
// variable, sleep, and then a function deep in the call chain reads "its"
// thread's name without anybody passing it along.

import Foundation
import ThreadLocals

/// One variable shared by all threads; every thread sees its own value.
let currentName = ThreadLocal<String?>()

/// For contrast: an ordinary global, shared by all threads.
nonisolated(unsafe) var sharedName: String? = nil

func bar() -> String {
    "thread-local sees \(currentName.value ?? "nil"), plain global sees \(sharedName ?? "nil")"
}

func foo() -> String {
    bar()
}

let lock = NSLock()
func say(_ line: String) {
    lock.lock()
    print(line)
    lock.unlock()
}

let names = ["Alice", "Bob"]
let done = DispatchGroup()
for (index, name) in names.enumerated() {
    done.enter()
    let thread = Thread {
        currentName.value = name
        sharedName = name  // the last thread to get here wins, for everyone
        Thread.sleep(forTimeInterval: 0.1 * Double(names.count - index))
        say("\(name)'s thread: \(foo())")
        done.leave()
    }
    thread.name = name
    thread.start()
    Thread.sleep(forTimeInterval: 0.02)
}
done.wait()
say("main thread: \(foo())")
