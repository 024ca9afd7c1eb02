/// Immutable bytes with a stable address, shared by every connection that sends them.
///
/// A broadcast is encoded once into one `SharedBytes`; each recipient's queue holds a
/// reference, and `writev` reads straight from `pointer`.
public final class SharedBytes: @unchecked Sendable {
    // Written once in init, never mutated after: safe to share across threads.
    public let pointer: UnsafeRawBufferPointer

    public var count: Int { pointer.count }

    public init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
        // One memcpy for contiguous sources (arrays, buffers); element by element otherwise.
        let copied: Bool? = bytes.withContiguousStorageIfAvailable { source in
            storage.copyMemory(from: UnsafeRawBufferPointer(source))
            return true
        }
        if copied == nil { _ = storage.initializeMemory(as: UInt8.self, from: bytes) }
        pointer = UnsafeRawBufferPointer(rebasing: storage[0..<bytes.count])
    }

    /// Builds the bytes in place without an intermediate array.
    public init(count: Int, initializer: (UnsafeMutableRawBufferPointer) -> Void) {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 8)
        let region = UnsafeMutableRawBufferPointer(rebasing: storage[0..<count])
        initializer(region)
        pointer = UnsafeRawBufferPointer(region)
    }

    deinit {
        UnsafeMutableRawPointer(mutating: pointer.baseAddress)?.deallocate()
    }

    public var array: [UInt8] { Array(pointer) }
}
