/// Header fields kept as the bytes they arrived in, with the place of each name and value.
///
/// A request head is checked field by field and most fields are never read as text, so the
/// parser hands these over instead of one String per name and value; strings are made only
/// for the fields somebody asks for.
public struct RawHeaderFields: Sendable {
    /// The fields' bytes, names and values in arrival order.
    public let bytes: [UInt8]
    /// Four offsets into `bytes` per field: name start, name end, value start, value end.
    private let bounds: [Int32]

    /// Fields from bytes and four offsets per field (name start/end, value start/end).
    public init(bytes: [UInt8], bounds: [Int32]) {
        precondition(bounds.count % 4 == 0, "four offsets per field")
        self.bytes = bytes
        self.bounds = bounds
    }

    /// Fields from name/value strings, laid out one after another.
    public init(_ fields: [(name: String, value: String)]) {
        var bytes: [UInt8] = []
        var bounds: [Int32] = []
        bounds.reserveCapacity(fields.count * 4)
        for field in fields {
            bounds.append(Int32(bytes.count))
            bytes.append(contentsOf: field.name.utf8)
            bounds.append(Int32(bytes.count))
            bounds.append(Int32(bytes.count))
            bytes.append(contentsOf: field.value.utf8)
            bounds.append(Int32(bytes.count))
        }
        self.init(bytes: bytes, bounds: bounds)
    }

    /// Number of fields, duplicates included.
    @inlinable public var count: Int { boundsCount / 4 }

    @usableFromInline var boundsCount: Int { bounds.count }

    /// Where the name of field `index` sits in `bytes`.
    public func name(_ index: Int) -> Range<Int> {
        Int(bounds[index * 4])..<Int(bounds[index * 4 + 1])
    }

    /// Where the value of field `index` sits in `bytes`.
    public func value(_ index: Int) -> Range<Int> {
        Int(bounds[index * 4 + 2])..<Int(bounds[index * 4 + 3])
    }

    /// The bytes of `range` as text (invalid UTF-8 repaired).
    public func string(_ range: Range<Int>) -> String {
        bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self) }
    }

    /// Index of the first field named `name` (ASCII case-insensitive) at or after `start`.
    public func firstIndex(named name: String, from start: Int = 0) -> Int? {
        var name = name
        return name.withUTF8 { wanted in
            bytes.withUnsafeBufferPointer { buffer in
                var index = start
                while index < count {
                    if RawHeaderFields.equalsIgnoringCase(buffer, self.name(index), wanted) { return index }
                    index += 1
                }
                return nil
            }
        }
    }

    /// Every field as strings, in order.
    public func materialize() -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(count)
        for index in 0..<count {
            fields.append((name: string(name(index)), value: string(value(index))))
        }
        return fields
    }

    /// ASCII case-insensitive comparison of `range` with `other`.
    public static func equalsIgnoringCase(
        _ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ other: UnsafeBufferPointer<UInt8>
    ) -> Bool {
        guard range.count == other.count else { return false }
        guard let base = buffer.baseAddress, let otherBase = other.baseAddress else { return true }
        return ByteScan.equalIgnoringASCIICase(base + range.lowerBound, otherBase, count: range.count)
    }

    /// ASCII case-insensitive comparison of `range` with a literal.
    public static func equalsIgnoringCase(
        _ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ literal: StaticString
    ) -> Bool {
        equalsIgnoringCase(
            buffer, range, UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// `range` without leading and trailing spaces and tabs.
    public static func trimmed(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int> {
        var lowerBound = range.lowerBound
        var upperBound = range.upperBound
        while lowerBound < upperBound, isSpace(buffer[lowerBound]) { lowerBound += 1 }
        while upperBound > lowerBound, isSpace(buffer[upperBound - 1]) { upperBound -= 1 }
        return lowerBound..<upperBound
    }

    /// Calls `body` with each non-empty, trimmed comma-separated element of `range`; `body`
    /// returns true to stop. Returns whether it stopped.
    @discardableResult
    public static func forEachElement(
        _ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ body: (Range<Int>) -> Bool
    ) -> Bool {
        var start = range.lowerBound
        var index = range.lowerBound
        while index <= range.upperBound {
            if index == range.upperBound || buffer[index] == UInt8(ascii: ",") {
                let element = trimmed(buffer, start..<index)
                if !element.isEmpty, body(element) { return true }
                start = index + 1
            }
            index += 1
        }
        return false
    }

    @inline(__always)
    static func isSpace(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 }
}
