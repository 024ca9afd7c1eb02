import WPSBytes

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Small process helpers shared by the two apps.
public enum Console {
    /// Seconds on the monotonic clock (CLOCK_MONOTONIC, comparable across processes of one host).
    public static func monotonicSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// The monotonic time with microseconds, for log lines.
    public static func timestamp() -> String {
        let micros = Int64(monotonicSeconds() * 1e6)
        let fraction = String(micros % 1_000_000)
        return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    /// Writes a line to stdout at once (one write, so lines of one process never interleave).
    public static func line(_ line: String) { write(line + "\n", to: 1) }

    /// Writes a line to stderr.
    public static func error(_ line: String) { write(line + "\n", to: 2) }

    /// Writes text to stdout without a newline.
    public static func write(_ text: String) { write(text, to: 1) }

    private static func write(_ text: String, to fd: Int32) {
        var copy = text
        copy.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }

    /// Whether stdout is a terminal.
    public static var stdoutIsTerminal: Bool { isatty(1) != 0 }

    /// An environment variable.
    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// Ends the process.
    public static func exit(_ status: Int32) -> Never {
        #if canImport(Glibc)
            Glibc.exit(status)
        #else
            Darwin.exit(status)
        #endif
    }

    /// A random lowercase hex string of `count` digits.
    public static func randomHex(_ count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return String((0..<count).map { _ in digits[Int(generator.next() % 16)] })
    }
}

extension Console {
    /// `text` as a quoted JSON string.
    public static func jsonString(_ text: String) -> String {
        var out = OutputBuffer(capacity: text.utf8.count + 2)
        JSONWriter.appendString(text, to: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// `text` on one line: line breaks and tabs become spaces.
    public static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline || $0 == "\t" ? " " : $0 })
    }
}
