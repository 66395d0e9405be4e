// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The process's allocation count, when the server runs with the malloc counter
/// preloaded (`LD_PRELOAD=.../malloc-count.so`, built by `Benchmarks/Scripts/server-load.sh`
/// from `Benchmarks/Scripts/malloc_count.c`): it counts every call of malloc, calloc, realloc,
/// posix_memalign, aligned_alloc and memalign in per-thread cells.
enum MallocCount {
    private typealias Total = @convention(c) () -> UInt64

    /// The counter's `malloc_count_total()`, looked up once; nil when it is not preloaded.
    private static let function: Total? = {
        // A nil handle is RTLD_DEFAULT: the global scope, where preloaded libraries are.
        guard let symbol = dlsym(nil, "malloc_count_total") else { return nil }
        return unsafeBitCast(symbol, to: Total.self)
    }()

    /// The number of allocations so far, or nil without the preloaded counter.
    static var total: UInt64? { function?() }
}
