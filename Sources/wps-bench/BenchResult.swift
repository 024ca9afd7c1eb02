import WPSBytes

/// One run's outcome: an ordered set of named values, written as one JSON document and as a
/// short human table.
struct BenchResult {
    /// A value in the document.
    enum Value {
        case int(Int)
        case number(Double)
        case text(String)
        case flag(Bool)
        case object([(String, Value)])
        case null
    }

    private(set) var fields: [(String, Value)] = []

    subscript(name: String) -> Value? {
        fields.first(where: { $0.0 == name })?.1
    }

    mutating func set(_ name: String, _ value: Value) {
        if let index = fields.firstIndex(where: { $0.0 == name }) {
            fields[index].1 = value
        } else {
            fields.append((name, value))
        }
    }

    mutating func set(_ name: String, _ value: Int) { set(name, .int(value)) }
    mutating func set(_ name: String, _ value: String) { set(name, .text(value)) }
    mutating func set(_ name: String, _ value: Bool) { set(name, .flag(value)) }
    /// A number, or null when it is not finite (no deliveries, no samples).
    mutating func set(_ name: String, _ value: Double?) {
        if let value, value.isFinite { set(name, .number(value)) } else { set(name, .null) }
    }

    /// The document on one line.
    var json: String {
        var out = OutputBuffer(capacity: 1024)
        Self.append(.object(fields), to: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    private static func append(_ value: Value, to out: inout OutputBuffer) {
        switch value {
        case .int(let number):
            out.appendDecimal(number)
        case .number(let number):
            out.append(format(number))
        case .text(let text):
            JSONWriter.appendString(text, to: &out)
        case .flag(let flag):
            out.append(flag ? "true" : "false")
        case .null:
            out.append("null")
        case .object(let members):
            out.append("{")
            for (index, member) in members.enumerated() {
                if index > 0 { out.append(",") }
                JSONWriter.appendString(member.0, to: &out)
                out.append(":")
                append(member.1, to: &out)
            }
            out.append("}")
        }
    }

    /// A number with at most four significant decimals after the point.
    static func format(_ number: Double) -> String {
        guard number.isFinite else { return "null" }
        if number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)) }
        let scaled = (number * 10_000).rounded() / 10_000
        if scaled == 0 { return String(number) }
        return String(scaled)
    }

    /// The human table: one `name  value` line per scalar field, nested objects flattened.
    var table: String {
        var lines: [String] = []
        Self.flatten(fields, prefix: "", into: &lines)
        return lines.joined(separator: "\n")
    }

    private static func flatten(_ members: [(String, Value)], prefix: String, into lines: inout [String]) {
        for (name, value) in members {
            let key = prefix.isEmpty ? name : prefix + "." + name
            let text: String
            switch value {
            case .object(let inner):
                flatten(inner, prefix: key, into: &lines)
                continue
            case .int(let number): text = String(number)
            case .number(let number): text = format(number)
            case .text(let string): text = string
            case .flag(let flag): text = flag ? "yes" : "no"
            case .null: text = "-"
            }
            let padding = String(repeating: " ", count: max(1, 34 - key.count))
            lines.append("  " + key + padding + text)
        }
    }
}
