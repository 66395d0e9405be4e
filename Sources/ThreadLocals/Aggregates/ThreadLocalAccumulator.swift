// SPDX-License-Identifier: Apache-2.0
public import CThreadLocals

/// Per-thread partial results of any type, merged on demand: statistics,
/// histograms, sets of seen keys.
///
/// ```swift
/// let seen = ThreadLocalAccumulator<Set<String>>(initial: []) {
///     $0.formUnion($1)
/// }
/// seen.update { $0.insert(key) }     // on any thread
/// let all = seen.combined()          // now and then, on any thread
/// ```
///
/// Each thread updates its own value, starting from a new initial value;
/// ``combined(file:line:)`` merges the running threads' values into what exited
/// threads left, so no update is lost. `merge` must be associative and
/// commutative, with the initial value as its identity (0 for a sum, an empty
/// set for a union, `.min` for a maximum). For a class value, make each
/// initial value with ``init(_:merge:)``. Every member may be called from
/// `async` code. What ``combined(file:line:)`` observes and what each operation costs:
/// <doc:PerThreadAggregates>.
public final class ThreadLocalAccumulator<Value: Sendable>: Sendable {
    /// The accumulator's slot: each thread's word holds that thread's cell.
    @usableFromInline
    internal let _slot: ctl_slot
    /// The live cells, what exited threads and resets left, and the closures.
    @usableFromInline
    internal let _cells: _PerThreadCells<_AccumulatorCell<Value>>

    /// Creates an accumulator whose values start as new results of
    /// `makeInitial`: one per thread, one for what exited threads leave, and
    /// one for each ``combined(file:line:)``.
    ///
    /// - Parameters:
    ///   - makeInitial: Makes a value that is the identity of `merge`. Runs
    ///     once now, on a thread's first ``update(file:line:_:)``, and at the
    ///     start of each reader. Use this initializer for a class value, so
    ///     that no two threads share one object.
    ///   - merge: Merges its second argument into its first. It runs with the
    ///     accumulator locked: using the same accumulator inside it stops the
    ///     program with a message (see
    ///     <doc:PerThreadAggregates#Closures-that-must-not-use-their-own-aggregate>).
    ///
    /// ```swift
    /// final class Hits: Sendable { let count = Atomic<Int>(0) }
    /// let hits = ThreadLocalAccumulator({ Hits() }) { into, next in
    ///     into.count.add(next.count.load(ordering: .relaxed), ordering: .relaxed)
    /// }
    /// ```
    public init(
        _ makeInitial: @escaping @Sendable () -> Value,
        merge: @escaping @Sendable (inout Value, Value) -> Void
    ) {
        _cells = _PerThreadCells(total: makeInitial(), setup: _AccumulatorSetup(makeInitial: makeInitial, merge: merge))
        _slot = _cells.makeSlot()
    }

    /// Creates an accumulator whose values start as copies of `initial`.
    ///
    /// - Parameters:
    ///   - initial: A value that is the identity of `merge`, copied for each
    ///     thread. It must be a value type: a class instance would be one
    ///     object shared by every thread, so a class `Value` stops the
    ///     program with a message; use ``init(_:merge:)`` for it.
    ///   - file: The caller's file, for the message of a misuse.
    ///   - line: The caller's line, for the message of a misuse.
    ///   - merge: Merges its second argument into its first, as for
    ///     ``init(_:merge:)``.
    public convenience init(
        initial: Value,
        file: StaticString = #fileID,
        line: UInt = #line,
        merge: @escaping @Sendable (inout Value, Value) -> Void
    ) {
        if Value.self is AnyObject.Type {
            _aggregateFailure(
                "ThreadLocalAccumulator<\(Value.self)>(initial:merge:) would share one object among all threads; use init(_:merge:) with a closure that makes a new one",
                file: file,
                line: line
            )
        }
        self.init({ initial }, merge: merge)
    }

    /// Folds every running thread's value into the total and releases it, on
    /// the calling thread (the slot's destructor retires each cell).
    deinit {
        ctl_slot_destroy(_slot)
    }

    /// Calls `body` with the calling thread's value to mutate in place, and
    /// returns what `body` returns.
    ///
    /// - Parameters:
    ///   - file: The caller's file, for the message of a misuse.
    ///   - line: The caller's line, for the message of a misuse.
    ///   - body: Mutates the thread's value. It runs with the thread's cell
    ///     locked: it must not use this accumulator.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws; the value keeps what `body` did to it.
    ///
    /// Inlined: a check of the thread's slot entry, a load of the cell
    /// pointer, and an uncontended lock and unlock of the thread's own cell. A
    /// thread's first update makes and registers its cell. Stops the program
    /// with a message when called inside `body` or `merge` on the same thread.
    @inlinable
    @discardableResult
    public func update<Result, Failure: Error>(
        file: StaticString = #fileID,
        line: UInt = #line,
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        // `self` owns the cell and the pointer does not: keep `self` alive
        // until `body` has returned and the cell is unlocked.
        defer { withExtendedLifetime(self) {} }
        let word = ctl_value_pointer(_slot) ?? _cells.registerCell(_slot, file: file, line: line)
        return try _LockedStorage<Value>(raw: word.pointee.ptr.unsafelyUnwrapped).withLockAsOwner(
            orStop: "update was called inside update or merge on the same thread",
            file: file,
            line: line,
            body
        )
    }

    /// The values of all threads merged: the running threads' and what exited
    /// threads left, since the accumulator was made or last reset.
    ///
    /// - Parameters:
    ///   - file: The caller's file, for the message of a misuse.
    ///   - line: The caller's line, for the message of a misuse.
    /// - Returns: A new initial value with every value merged into it.
    ///
    /// Takes the accumulator's lock and each running thread's cell lock in
    /// turn, and runs `merge` once per running thread that has updated, plus
    /// once. Stops the program with a message when called inside `update`'s
    /// body or `merge` on the same thread.
    public func combined(file: StaticString = #fileID, line: UInt = #line) -> Value {
        _combine(resetting: false, file: file, line: line)
    }

    /// Returns the merged values and starts every value again from a new
    /// initial value, as one step.
    ///
    /// - Parameters:
    ///   - file: The caller's file, for the message of a misuse.
    ///   - line: The caller's line, for the message of a misuse.
    /// - Returns: What ``combined(file:line:)`` would have returned.
    ///
    /// Exact under concurrent updates: each update is in the value this
    /// returns or in what ``combined(file:line:)`` returns afterwards, never
    /// in both and never in neither (each cell is swapped under its lock).
    /// Costs what ``combined(file:line:)`` costs, plus a new initial value per
    /// cell.
    public func combinedThenReset(file: StaticString = #fileID, line: UInt = #line) -> Value {
        _combine(resetting: true, file: file, line: line)
    }

    /// Starts every value again from a new initial value:
    /// ``combinedThenReset(file:line:)`` without the result.
    ///
    /// - Parameters:
    ///   - file: The caller's file, for the message of a misuse.
    ///   - line: The caller's line, for the message of a misuse.
    public func reset(file: StaticString = #fileID, line: UInt = #line) {
        _ = _combine(resetting: true, file: file, line: line)
    }

    /// The number of threads that have a live cell, for diagnostics and
    /// tests: those that have updated and not exited, and any whose cell was
    /// made in the last sweep of its exit
    /// (<doc:PerThreadAggregates#What-a-reader-observes>). Takes the
    /// accumulator's lock.
    public var threadCount: Int {
        _cells.threadCount
    }

    /// The readers: the merged values, with every value replaced by a new
    /// initial one if `resetting`.
    private func _combine(resetting: Bool, file: StaticString, line: UInt) -> Value {
        let setup = _cells.setup
        var replaced: [Value] = []  // released after the locks, so their deinits may use `self`
        let result = _cells.withState(file: file, line: line) { state in
            // The calling thread's own cell, locked for the whole read (after
            // the registry, as every reader locks), so that an `update` inside
            // `merge` stops on it whichever cell is being merged.
            let own = ctl_value_pointer(_slot).map { UInt(bitPattern: $0.pointee.ptr) }
            let ownStorage = own.map { _LockedStorage<Value>(raw: UnsafeMutableRawPointer(bitPattern: $0)!) }
            ownStorage?.lockAsOwner(
                orStop: "combined() or reset() was called inside update on the same thread",
                file: file,
                line: line
            )
            defer { ownStorage?.unlockAsOwner() }
            var result = setup.makeInitial()
            func take(_ value: inout Value) {
                setup.merge(&result, value)
                if resetting {
                    replaced.append(value)
                    value = setup.makeInitial()
                }
            }
            take(&state.total)
            for cell in state.live.keys {
                let storage = _LockedStorage<Value>(raw: UnsafeMutableRawPointer(bitPattern: cell)!)
                if cell == own {
                    take(&storage.value.pointee)
                } else {
                    storage.withLock(orStop: "locked a cell it holds", of: Self.self, file: file, line: line, take)
                }
            }
            return result
        }
        return result
    }
}

/// What an accumulator's cells are made and folded with.
@usableFromInline
internal struct _AccumulatorSetup<Value: Sendable>: Sendable {
    let makeInitial: @Sendable () -> Value
    let merge: @Sendable (inout Value, Value) -> Void
}

/// One thread's cell of a `ThreadLocalAccumulator`: its value and a mutex, on
/// their own padded block (`_LockedStorage<Value>`).
@usableFromInline
internal enum _AccumulatorCell<Value: Sendable>: _PerThreadCell {
    @usableFromInline
    internal static var aggregate: Any.Type { ThreadLocalAccumulator<Value>.self }

    @usableFromInline
    internal static func make(_ setup: _AccumulatorSetup<Value>) -> UnsafeMutableRawPointer {
        _LockedStorage.allocate(setup.makeInitial(), errorChecking: false).raw
    }

    @usableFromInline
    internal static func fold(
        _ cell: UnsafeMutableRawPointer,
        into total: inout Value,
        _ setup: _AccumulatorSetup<Value>
    ) {
        _LockedStorage<Value>(raw: cell).withLock(
            orStop: "locked a cell it holds",
            of: aggregate,
            file: #fileID,
            line: #line
        ) {
            setup.merge(&total, $0)
        }
    }

    @usableFromInline
    internal static func free(_ cell: UnsafeMutableRawPointer) {
        _LockedStorage<Value>(raw: cell).deallocate()
    }
}
