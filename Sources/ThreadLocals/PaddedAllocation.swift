/// The bytes kept free around a per-thread cell that threads write often: two
/// 64-byte cache lines, since x86's adjacent-line prefetcher pulls lines in
/// pairs and Apple's arm64 cores use 128-byte lines.
internal let _cellAlignment = 128

/// Allocates `byteCount` bytes (at least one), rounded up to a multiple of
/// `_cellAlignment` and aligned to it, so that no other allocation shares their
/// cache lines. Free with `deallocate()`.
internal func _allocatePadded(byteCount: Int) -> UnsafeMutableRawPointer {
    let rounded = (max(byteCount, 1) + _cellAlignment - 1) / _cellAlignment * _cellAlignment
    return UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: _cellAlignment)
}

/// Allocates uninitialized storage for one `T` on its own padded block (see
/// `_allocatePadded(byteCount:)`).
internal func _allocatePadded<T: ~Copyable>(_: T.Type) -> UnsafeMutablePointer<T> {
    _allocatePadded(byteCount: MemoryLayout<T>.size).bindMemory(to: T.self, capacity: 1)
}
