import WPSBytes

/// A small JSON value for the admin routes and the trace, which are off the message path
/// and only built when someone asks.
indirect enum AdminJSON: Sendable, Equatable {
    case object([Field])
    case array([AdminJSON])
    case string(String)
    case int(Int)
    case bool(Bool)
    case null

    struct Field: Sendable, Equatable {
        let name: String
        let value: AdminJSON
        init(_ name: String, _ value: AdminJSON) {
            self.name = name
            self.value = value
        }
    }

    static func optional(_ text: String?) -> AdminJSON { text.map { .string($0) } ?? .null }
    static func optional(_ number: Int?) -> AdminJSON { number.map { .int($0) } ?? .null }

    var bytes: [UInt8] {
        var out = OutputBuffer(capacity: 256)
        write(to: &out)
        return out.bytes
    }

    func write(to out: inout OutputBuffer) {
        switch self {
        case .object(let fields):
            out.append("{")
            for (index, field) in fields.enumerated() {
                if index > 0 { out.append(",") }
                JSONWriter.appendString(field.name, to: &out)
                out.append(":")
                field.value.write(to: &out)
            }
            out.append("}")
        case .array(let values):
            out.append("[")
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(",") }
                value.write(to: &out)
            }
            out.append("]")
        case .string(let text): JSONWriter.appendString(text, to: &out)
        case .int(let number): out.appendDecimal(number)
        case .bool(let flag): out.append(flag ? "true" : "false")
        case .null: out.append("null")
        }
    }
}
