import Glibc
public import Logging
import WPSBytes

/// A swift-log handler that writes one JSON object per line (`--log-format json`), for log
/// shippers that should not have to parse text. Keys, in this order: `time` (RFC 3339, UTC,
/// milliseconds), `level`, `event` (when the metadata has one), `message`, `label`, then every
/// other metadata key in alphabetical order, so the same record always gives the same line.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String
    /// Where a finished line goes; stderr unless a test wants the bytes.
    let sink: @Sendable ([UInt8]) -> Void

    public init(label: String, sink: @escaping @Sendable ([UInt8]) -> Void = JSONLogHandler.writeToStandardError) {
        self.label = label
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        sink(
            Self.line(
                time: Self.currentTime(), level: event.level, message: event.message.description, label: label,
                metadata: merged))
    }

    /// Keys the handler writes itself; metadata under the same name is written with a `_`
    /// in front so it cannot shadow them.
    static let reservedKeys: Set<String> = ["time", "level", "event", "message", "label"]

    /// One record as a JSON object and a newline. `time` is (seconds, milliseconds) since the epoch.
    public static func line(
        time: (seconds: Int, milliseconds: Int), level: Logger.Level, message: String, label: String,
        metadata: Logger.Metadata
    ) -> [UInt8] {
        var out = OutputBuffer(capacity: 256)
        out.append("{\"time\":\"")
        appendTimestamp(seconds: time.seconds, milliseconds: time.milliseconds, to: &out)
        out.append("\",\"level\":\"")
        out.append(level.rawValue)
        out.append("\"")
        if let event = metadata["event"] {
            out.append(",\"event\":")
            appendValue(event, to: &out)
        }
        out.append(",\"message\":")
        JSONWriter.appendString(message, to: &out)
        out.append(",\"label\":")
        JSONWriter.appendString(label, to: &out)
        for key in metadata.keys.sorted() where key != "event" {
            out.append(",")
            JSONWriter.appendString(reservedKeys.contains(key) ? "_" + key : key, to: &out)
            out.append(":")
            appendValue(metadata[key]!, to: &out)
        }
        out.append("}\n")
        return out.bytes
    }

    /// Strings as JSON strings, integers and booleans given as `stringConvertible` as JSON
    /// numbers and booleans, lists and dictionaries as arrays and objects.
    static func appendValue(_ value: Logger.Metadata.Value, to out: inout OutputBuffer) {
        switch value {
        case .string(let text):
            JSONWriter.appendString(text, to: &out)
        case .stringConvertible(let convertible):
            switch convertible {
            case let number as Int: out.appendDecimal(number)
            case let number as UInt64: out.appendDecimal(number)
            case let number as any BinaryInteger: out.append(String(describing: number))
            case let flag as Bool: out.append(flag ? "true" : "false")
            default: JSONWriter.appendString(convertible.description, to: &out)
            }
        case .array(let items):
            out.append("[")
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(",") }
                appendValue(item, to: &out)
            }
            out.append("]")
        case .dictionary(let entries):
            out.append("{")
            for (index, key) in entries.keys.sorted().enumerated() {
                if index > 0 { out.append(",") }
                JSONWriter.appendString(key, to: &out)
                out.append(":")
                appendValue(entries[key]!, to: &out)
            }
            out.append("}")
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    static func appendTimestamp(seconds: Int, milliseconds: Int, to out: inout OutputBuffer) {
        var epoch = time_t(seconds)
        var parts = tm()
        gmtime_r(&epoch, &parts)
        func two(_ value: Int32) {
            out.append(UInt8(ascii: "0") + UInt8(value / 10))
            out.append(UInt8(ascii: "0") + UInt8(value % 10))
        }
        let year = Int(parts.tm_year) + 1900
        for divisor in [1000, 100, 10, 1] { out.append(UInt8(ascii: "0") + UInt8(year / divisor % 10)) }
        out.append(UInt8(ascii: "-"))
        two(parts.tm_mon + 1)
        out.append(UInt8(ascii: "-"))
        two(parts.tm_mday)
        out.append(UInt8(ascii: "T"))
        two(parts.tm_hour)
        out.append(UInt8(ascii: ":"))
        two(parts.tm_min)
        out.append(UInt8(ascii: ":"))
        two(parts.tm_sec)
        out.append(UInt8(ascii: "."))
        for divisor in [100, 10, 1] { out.append(UInt8(ascii: "0") + UInt8(milliseconds / divisor % 10)) }
        out.append(UInt8(ascii: "Z"))
    }

    static func currentTime() -> (seconds: Int, milliseconds: Int) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return (Int(now.tv_sec), Int(now.tv_nsec / 1_000_000))
    }

    /// One `write` per line, so lines from several loop threads never interleave (a line
    /// that the kernel takes in parts is finished before returning).
    @Sendable public static func writeToStandardError(_ line: [UInt8]) {
        line.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
